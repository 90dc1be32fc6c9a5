import json

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

NAME = "distilbert-base-uncased-finetuned-sst-2-english"
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
tokenizer = AutoTokenizer.from_pretrained(NAME)
model = AutoModelForSequenceClassification.from_pretrained(NAME).to(DEVICE).eval()


def handle(event, context):
    texts = json.loads(event.body)["texts"]
    batch = tokenizer(texts, padding=True, truncation=True, return_tensors="pt").to(DEVICE)
    with torch.no_grad():
        labels = model(**batch).logits.argmax(-1).tolist()
    return {"statusCode": 200, "body": json.dumps([model.config.id2label[i] for i in labels])}
