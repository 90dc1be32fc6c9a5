import json

with open("artifacts/vocab.json") as handle:
    VOCAB = json.load(handle)


def encode(text, length=64):
    ids = [VOCAB.get(word, 1) for word in text.lower().split()][:length]
    return ids + [0] * (length - len(ids))
