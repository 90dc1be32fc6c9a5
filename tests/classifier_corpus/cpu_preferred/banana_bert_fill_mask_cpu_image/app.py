import torch
from transformers import pipeline


def init():
    global model
    device = 0 if torch.cuda.is_available() else -1
    model = pipeline("fill-mask", model="bert-base-uncased", device=device)


def inference(model_inputs: dict) -> dict:
    global model
    prompt = model_inputs.get("prompt", None)
    if prompt is None:
        return {"message": "No prompt provided"}
    return model(prompt)
