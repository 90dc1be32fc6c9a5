import json

import numpy as np
import tensorflow as tf

model = tf.keras.models.load_model("/home/app/function/churn.keras")


def handle(req):
    rows = np.asarray(json.loads(req)["rows"], dtype=np.float32)
    return json.dumps({"churn": model.predict(rows, verbose=0).ravel().tolist()})
