import json

from transformers import pipeline

classifier = pipeline("zero-shot-classification", model="facebook/bart-large-mnli")
LABELS = ["billing", "technical issue", "feature request", "other"]


def handle(req):
    ticket = json.loads(req)["text"]
    result = classifier(ticket, candidate_labels=LABELS, multi_label=False)
    return json.dumps({"label": result["labels"][0], "score": result["scores"][0]})
