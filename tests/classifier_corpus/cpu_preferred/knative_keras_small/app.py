import os

import numpy as np
import tensorflow as tf
from flask import Flask, jsonify, request

app = Flask(__name__)
model = tf.keras.models.load_model("fraud.keras")


@app.post("/")
def score():
    rows = np.asarray(request.get_json()["rows"], dtype=np.float32)
    return jsonify({"scores": model.predict(rows, verbose=0).ravel().tolist()})


if __name__ == "__main__":
    app.run(host="0.0.0.0", port=int(os.environ.get("PORT", "8080")))
