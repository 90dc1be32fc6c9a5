"""Reports which accelerators a caller asked for. Does no compute.

Example: {"accelerator": "cuda"} -> "cuda requested, queued"
"""
import json

SUPPORTED = ["cpu", "cuda", "tpu"]


def handle(req):
    wanted = json.loads(req).get("accelerator", "cpu")
    if wanted not in SUPPORTED:
        return json.dumps({"error": f"unknown accelerator {wanted}; try 'cuda' or 'cpu'"})
    return json.dumps({"status": f"{wanted} requested, queued"})
