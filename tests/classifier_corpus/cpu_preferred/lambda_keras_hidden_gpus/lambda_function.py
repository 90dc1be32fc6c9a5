import base64
import io
import json

import numpy as np
import tensorflow as tf
from PIL import Image

tf.config.set_visible_devices([], "GPU")
model = tf.keras.applications.MobileNetV3Small(weights="imagenet")


def lambda_handler(event, context):
    image = Image.open(io.BytesIO(base64.b64decode(event["body"]))).convert("RGB").resize((224, 224))
    batch = tf.keras.applications.mobilenet_v3.preprocess_input(np.asarray(image, dtype=np.float32)[None])
    top = tf.keras.applications.mobilenet_v3.decode_predictions(model.predict(batch, verbose=0), top=3)[0]
    return {"statusCode": 200, "body": json.dumps([{"label": l, "p": float(p)} for _, l, p in top])}
