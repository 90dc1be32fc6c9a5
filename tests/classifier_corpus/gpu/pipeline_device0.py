from transformers import pipeline

classifier = pipeline("sentiment-analysis", device=0)


def handle(req):
    return str(classifier(req)[0])
