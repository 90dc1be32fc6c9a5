from transformers import pipeline

sentiment = pipeline("sentiment-analysis", model="distilbert-base-uncased-finetuned-sst-2-english")


def handle(req):
    result = sentiment(req[:512])[0]
    return f'{result["label"]} {result["score"]:.3f}'
