import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

CHECKPOINT = "meta-llama/Llama-2-7b-chat-hf"


class Model:
    def __init__(self, **kwargs):
        self._secrets = kwargs["secrets"]
        self.model = None
        self.tokenizer = None

    def load(self):
        token = self._secrets["hf_access_token"]
        self.tokenizer = AutoTokenizer.from_pretrained(CHECKPOINT, token=token)
        self.model = AutoModelForCausalLM.from_pretrained(CHECKPOINT, torch_dtype=torch.float16, device_map="auto",
                                                          token=token)

    def predict(self, request: dict):
        inputs = self.tokenizer(request["prompt"], return_tensors="pt").to(self.model.device)
        with torch.no_grad():
            output = self.model.generate(**inputs, max_new_tokens=request.get("max_new_tokens", 512), do_sample=True)
        return {"completion": self.tokenizer.decode(output[0], skip_special_tokens=True)}
