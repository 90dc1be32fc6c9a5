import json

from flask import request


def main():
    payload = request.get_json(silent=True) or {}
    return json.dumps({"echo": payload, "length": len(json.dumps(payload))})
