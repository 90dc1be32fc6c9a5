import torch
from transformers import pipeline

generator = pipeline(
    task="text-generation",
    model="microsoft/phi-2",
    device=0 if torch.cuda.is_available() else -1,
)


def handle(req):
    return generator(req, max_new_tokens=64)[0]["generated_text"]
