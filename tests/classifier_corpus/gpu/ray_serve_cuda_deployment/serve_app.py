import torch
from ray import serve
from starlette.requests import Request
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer


@serve.deployment(ray_actor_options={"num_gpus": 1}, autoscaling_config={"min_replicas": 1, "max_replicas": 4})
class Translator:
    def __init__(self):
        self.tokenizer = AutoTokenizer.from_pretrained("Helsinki-NLP/opus-mt-en-de")
        self.model = AutoModelForSeq2SeqLM.from_pretrained("Helsinki-NLP/opus-mt-en-de").to("cuda")

    async def __call__(self, request: Request) -> str:
        text = (await request.json())["text"]
        batch = self.tokenizer([text], return_tensors="pt").to("cuda")
        return self.tokenizer.decode(self.model.generate(**batch)[0], skip_special_tokens=True)


app = Translator.bind()
