import json

try:
    import cupy as xp
except ImportError:  # no GPU on this node: same code on numpy
    import numpy as xp


def handle(req):
    n = int(json.loads(req).get("n", 2048))
    a = xp.random.random((n, n)).astype(xp.float32)
    eigenvalues = xp.linalg.eigvalsh(a @ a.T)
    return json.dumps({"largest": float(eigenvalues[-1])})
