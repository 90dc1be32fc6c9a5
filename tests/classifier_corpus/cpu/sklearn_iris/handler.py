import json

from .model import load


def handle(req):
    clf = load()
    features = json.loads(req)["features"]
    return json.dumps({"species": int(clf.predict([features])[0])})
