import json

import cupy as cp


def handle(req):
    samples = cp.asarray(json.loads(req)["samples"], dtype=cp.float32)
    spectrum = cp.abs(cp.fft.rfft(samples))
    peak = int(cp.argmax(spectrum).get())
    return json.dumps({"peak_bin": peak})
