import base64
import io
import json

import numpy as np
import onnxruntime as ort
from PIL import Image


def init_context(context):
    session = ort.InferenceSession("/opt/nuclio/retinaface.onnx",
                                   providers=["CUDAExecutionProvider", "CPUExecutionProvider"])
    if "CUDAExecutionProvider" not in session.get_providers():
        raise RuntimeError("CUDA provider failed to load")
    context.user_data.session = session


def handler(context, event):
    body = event.body
    image = Image.open(io.BytesIO(base64.b64decode(body["image"]))).convert("RGB").resize((640, 640))
    batch = np.asarray(image, dtype=np.float32).transpose(2, 0, 1)[None] / 255.0
    session = context.user_data.session
    boxes = session.run(None, {session.get_inputs()[0].name: batch})[0]
    return context.Response(body=json.dumps({"faces": boxes.tolist()}), content_type="application/json",
                            status_code=200)
