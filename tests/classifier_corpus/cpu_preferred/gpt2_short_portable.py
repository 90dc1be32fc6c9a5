import torch
from transformers import pipeline

def get_device():
    return 0 if torch.cuda.is_available() else -1


generator = pipeline("text-generation", model="distilgpt2", device=get_device())


def handle(req):
    return generator(req, max_new_tokens=30, num_return_sequences=1)[0]["generated_text"]
