import base64
import io
import json

import numpy as np
import onnxruntime as ort
from PIL import Image

session = ort.InferenceSession("yolov8n.onnx", providers=["CPUExecutionProvider"])
INPUT = session.get_inputs()[0].name


def handler(event, context):
    image = Image.open(io.BytesIO(base64.b64decode(event["body"]))).convert("RGB").resize((640, 640))
    tensor = np.asarray(image, dtype=np.float32).transpose(2, 0, 1)[None] / 255.0
    predictions = session.run(None, {INPUT: tensor})[0][0].T
    boxes = predictions[predictions[:, 4:].max(axis=1) > 0.4]
    return {"statusCode": 200, "body": json.dumps({"detections": int(len(boxes))})}
