import json

import numpy as np
from tensorflow import keras


def handle(req):
    body = json.loads(req)
    x = np.asarray(body["x"], dtype=np.float32)
    y = np.asarray(body["y"], dtype=np.float32)
    model = keras.Sequential([keras.layers.Dense(512, activation="relu"), keras.layers.Dense(512, activation="relu"),
                              keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(x, y, epochs=int(body.get("epochs", 50)), batch_size=64, verbose=0)
    return json.dumps({"loss": float(history.history["loss"][-1])})
