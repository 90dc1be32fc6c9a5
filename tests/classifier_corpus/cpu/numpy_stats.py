import json

import numpy as np


def handle(req):
    data = np.asarray(json.loads(req)["values"], dtype=float)
    return json.dumps({"mean": data.mean(), "p95": float(np.percentile(data, 95)), "std": data.std()})
