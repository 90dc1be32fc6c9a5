import json

from .engine import generate


def handle(req):
    body = json.loads(req)
    return json.dumps({"completion": generate(body["prompt"], body.get("max_tokens", 128))})
