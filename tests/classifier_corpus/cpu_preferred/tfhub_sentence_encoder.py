import json

import tensorflow_hub as hub

encoder = hub.load("https://tfhub.dev/google/universal-sentence-encoder/4")


def handle(req):
    sentences = json.loads(req)["sentences"]
    return json.dumps({"embeddings": encoder(sentences).numpy().tolist()})
