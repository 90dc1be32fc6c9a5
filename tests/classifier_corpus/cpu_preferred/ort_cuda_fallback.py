import json

import numpy as np
import onnxruntime as ort

PROVIDERS = ["CUDAExecutionProvider", "CPUExecutionProvider"]
session = ort.InferenceSession("distilbert-sst2.onnx", providers=PROVIDERS)


def handle(req):
    body = json.loads(req)
    feeds = {"input_ids": np.array([body["input_ids"]], dtype=np.int64),
             "attention_mask": np.ones((1, len(body["input_ids"])), dtype=np.int64)}
    logits = session.run(None, feeds)[0]
    return json.dumps({"positive": bool(logits[0].argmax() == 1)})
