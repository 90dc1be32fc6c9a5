from typing import Any, Dict

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, pipeline

dtype = torch.bfloat16 if torch.cuda.get_device_capability()[0] >= 8 else torch.float16


class EndpointHandler:
    def __init__(self, path=""):
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, torch_dtype=dtype, device_map="auto")
        self.pipe = pipeline("text-generation", model=model, tokenizer=tokenizer)

    def __call__(self, data: Dict[str, Any]) -> Dict[str, Any]:
        prompt = data.pop("inputs", data)
        parameters = data.pop("parameters", {"max_new_tokens": 128})
        return self.pipe(prompt, **parameters)[0]
