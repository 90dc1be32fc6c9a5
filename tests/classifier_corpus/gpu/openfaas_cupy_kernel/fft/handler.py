import json

import cupy as cp


def handle(event, context):
    signal = cp.asarray(json.loads(event.body)["signal"], dtype=cp.float32)
    spectrum = cp.abs(cp.fft.rfft(signal))
    return {"statusCode": 200, "body": json.dumps({"peak": int(cp.argmax(spectrum))})}
