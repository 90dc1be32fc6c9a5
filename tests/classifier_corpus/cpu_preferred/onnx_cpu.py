import json

import numpy as np
import onnxruntime

sess = onnxruntime.InferenceSession("squeezenet1.1.onnx", providers=["CPUExecutionProvider"])


def handle(req):
    tensor = np.array(json.loads(req)["image"], dtype=np.float32)[None]
    scores = sess.run(None, {sess.get_inputs()[0].name: tensor})[0]
    return str(int(scores.argmax()))
