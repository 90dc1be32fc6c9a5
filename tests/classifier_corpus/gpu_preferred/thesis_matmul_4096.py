import json
import time

import torch

device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
N = 4096


def handle(req):
    a = torch.rand(N, N, device=device)
    b = torch.rand(N, N, device=device)
    start = time.perf_counter()
    c = a @ b
    if device.type == "cuda":
        torch.cuda.synchronize()
    return json.dumps({"n": N, "seconds": time.perf_counter() - start, "trace": float(c.trace())})
