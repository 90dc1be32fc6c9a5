import json
import logging

import azure.functions as func
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

NAME = "distilbert-base-uncased-finetuned-sst-2-english"
tokenizer = AutoTokenizer.from_pretrained(NAME)
model = AutoModelForSequenceClassification.from_pretrained(NAME).eval()


def main(req: func.HttpRequest) -> func.HttpResponse:
    logging.info("sentiment request")
    text = req.get_json().get("text", "")
    inputs = tokenizer(text, truncation=True, max_length=512, padding="max_length", return_tensors="pt")
    with torch.no_grad():
        probs = model(**inputs).logits.softmax(-1)[0]
    label = model.config.id2label[int(probs.argmax())]
    return func.HttpResponse(json.dumps({"label": label, "score": float(probs.max())}), mimetype="application/json")
