import json

from .preprocess import to_batch
from .net import classify


def handle(req):
    return json.dumps(classify(to_batch(json.loads(req)["pixels"])))
