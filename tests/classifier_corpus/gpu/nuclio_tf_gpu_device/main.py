import base64
import io
import json

import numpy as np
import tensorflow as tf
from PIL import Image


def init_context(context):
    with tf.device("/GPU:0"):
        context.user_data.model = tf.saved_model.load("/opt/nuclio/efficientdet_d4")


def handler(context, event):
    image = np.asarray(Image.open(io.BytesIO(base64.b64decode(event.body["image"]))).convert("RGB"))
    with tf.device("/GPU:0"):
        detections = context.user_data.model(tf.convert_to_tensor(image[None], dtype=tf.uint8))
    return context.Response(body=json.dumps({"n": int(detections["num_detections"][0])}),
                            content_type="application/json", status_code=200)
