import json

from sentence_transformers import SentenceTransformer

model = SentenceTransformer("all-MiniLM-L6-v2")


def handle(req):
    sentence = json.loads(req)["sentence"]
    return json.dumps(model.encode(sentence).tolist())
