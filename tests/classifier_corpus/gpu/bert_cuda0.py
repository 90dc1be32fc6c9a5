import json

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

MODEL_NAME = "distilbert-base-uncased-finetuned-sst-2-english"
device = torch.device("cuda:0")

tokenizer = AutoTokenizer.from_pretrained(MODEL_NAME)
model = AutoModelForSequenceClassification.from_pretrained(MODEL_NAME)
model.to(device)
model.eval()


def handle(event, context):
    text = event.body.decode() if isinstance(event.body, bytes) else str(event.body)
    inputs = tokenizer(text, return_tensors="pt", truncation=True).to(device)
    with torch.inference_mode():
        logits = model(**inputs).logits
    label = model.config.id2label[int(logits.argmax())]
    return {"statusCode": 200, "body": json.dumps({"label": label})}
