import json

import numpy as np
import onnxruntime as ort

session = ort.InferenceSession("model.onnx", providers=["CPUExecutionProvider"])


def handle(req):
    x = np.asarray(json.loads(req)["x"], dtype=np.float32)
    return json.dumps(session.run(None, {"input": x})[0].tolist())
