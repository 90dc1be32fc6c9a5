import math

import numpy as np
from numba import cuda


@cuda.jit
def saxpy(a, x, y, out):
    i = cuda.grid(1)
    if i < x.size:
        out[i] = a * x[i] + y[i]


def handle(req):
    n = int(req or 1024)
    x = np.arange(n, dtype=np.float32)
    y = np.ones(n, dtype=np.float32)
    out = cuda.device_array_like(x)
    threads = 256
    saxpy[math.ceil(n / threads), threads](2.0, cuda.to_device(x), cuda.to_device(y), out)
    return str(out.copy_to_host()[:5].tolist())
