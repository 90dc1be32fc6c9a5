import json
import time


def handle(req):
    delay = min(float(json.loads(req).get("seconds", 0.1)), 5.0)
    time.sleep(delay)
    return json.dumps({"slept": delay})
