import os
import pickle

from flask import Flask, jsonify, request

app = Flask(__name__)
with open("model.pkl", "rb") as f:
    model = pickle.load(f)


@app.post("/")
def predict():
    features = request.get_json()["features"]
    return jsonify({"price": float(model.predict([features])[0])})


if __name__ == "__main__":
    app.run(host="0.0.0.0", port=int(os.environ.get("PORT", 8080)))
