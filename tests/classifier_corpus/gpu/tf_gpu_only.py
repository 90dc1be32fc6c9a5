import json

import numpy as np
import tensorflow as tf

model = tf.keras.applications.MobileNetV2(weights="imagenet")


def handle(req):
    pixels = np.asarray(json.loads(req)["pixels"], dtype=np.float32).reshape(1, 224, 224, 3)
    with tf.device("/GPU:0"):
        preds = model(tf.keras.applications.mobilenet_v2.preprocess_input(pixels))
    decoded = tf.keras.applications.mobilenet_v2.decode_predictions(preds.numpy(), top=3)[0]
    return json.dumps([[name, float(score)] for _, name, score in decoded])
