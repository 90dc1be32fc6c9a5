import json

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

MODEL_DIR = "/opt/ml/model"
tokenizer = AutoTokenizer.from_pretrained(MODEL_DIR)
model = AutoModelForSequenceClassification.from_pretrained(MODEL_DIR).eval()


def classify(event, context):
    review = json.loads(event["body"])["review"]
    inputs = tokenizer(review, truncation=True, return_tensors="pt")
    with torch.no_grad():
        label = int(model(**inputs).logits.argmax())
    return {"statusCode": 200, "body": json.dumps({"label": label})}
