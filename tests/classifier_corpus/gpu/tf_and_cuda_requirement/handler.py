import json

import tensorflow as tf

model = tf.keras.models.load_model("sentiment.keras")


def handle(req):
    texts = tf.constant([json.loads(req)["text"]])
    return json.dumps({"score": float(model(texts)[0][0])})
