import json

import joblib
import torch

scaler = joblib.load("/models/scaler.joblib")
mlp = torch.jit.load("/models/mlp.pt", map_location="cpu").eval()


def handle(req):
    rows = scaler.transform(json.loads(req)["rows"])
    with torch.no_grad():
        scores = torch.sigmoid(mlp(torch.as_tensor(rows, dtype=torch.float32))).squeeze(-1)
    return json.dumps({"scores": scores.tolist()})
