import json

import numpy as np
import onnxruntime as ort

session = ort.InferenceSession("model.onnx", providers=["CUDAExecutionProvider"])
input_name = session.get_inputs()[0].name


def handle(req):
    x = np.asarray(json.loads(req)["inputs"], dtype=np.float32)
    (y,) = session.run(None, {input_name: x})
    return json.dumps(y.tolist())
