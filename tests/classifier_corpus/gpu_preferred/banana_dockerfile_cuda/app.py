import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

MODEL = "cardiffnlp/twitter-roberta-base-sentiment-latest"


def init():
    global model, tokenizer, device
    device = "cuda" if torch.cuda.is_available() else "cpu"
    tokenizer = AutoTokenizer.from_pretrained(MODEL)
    model = AutoModelForSequenceClassification.from_pretrained(MODEL).to(device)


def inference(model_inputs: dict) -> dict:
    encoded = tokenizer(model_inputs["texts"], padding=True, truncation=True, return_tensors="pt").to(device)
    with torch.no_grad():
        scores = model(**encoded).logits.softmax(dim=-1)
    return {"scores": scores.tolist()}
