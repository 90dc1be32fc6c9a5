import json
import os

import numpy as np
import onnxruntime as ort

PROVIDERS = os.getenv("ORT_PROVIDERS", "CPUExecutionProvider").split(",")
session = ort.InferenceSession("/var/task/model.onnx", providers=PROVIDERS)
INPUT = session.get_inputs()[0].name


def handler(event, context):
    features = np.asarray(json.loads(event["body"])["features"], dtype=np.float32)
    scores = session.run(None, {INPUT: features})[0]
    return {"statusCode": 200, "body": json.dumps({"scores": scores.tolist()})}
