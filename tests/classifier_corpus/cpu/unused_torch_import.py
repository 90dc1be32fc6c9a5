import json

import torch  # noqa: F401  (left over from an experiment)


def handle(req):
    body = json.loads(req)
    return json.dumps({"words": len(body.get("text", "").split())})
