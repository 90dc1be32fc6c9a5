import json

from .model import Segmenter

segmenter = Segmenter()


def handle(req):
    mask = segmenter.predict(json.loads(req)["pixels"])
    return json.dumps({"foreground": int(mask.sum())})
