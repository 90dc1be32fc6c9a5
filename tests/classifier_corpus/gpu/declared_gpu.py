# gaia: mode=gpu
# The operator pins this function to GPU nodes: it shares a node with a CUDA sidecar.
import json


def handle(req):
    return json.dumps({"echo": req})
