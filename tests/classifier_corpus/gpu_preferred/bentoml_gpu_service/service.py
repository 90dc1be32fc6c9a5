import bentoml
import torch
from transformers import pipeline


@bentoml.service(resources={"gpu": 1, "memory": "8Gi"}, traffic={"timeout": 60})
class Summarizer:
    def __init__(self) -> None:
        device = 0 if torch.cuda.is_available() else -1
        self.pipe = pipeline("summarization", model="sshleifer/distilbart-cnn-12-6", device=device)

    @bentoml.api
    def summarize(self, text: str) -> str:
        return self.pipe(text, max_length=130, min_length=30, do_sample=False)[0]["summary_text"]
