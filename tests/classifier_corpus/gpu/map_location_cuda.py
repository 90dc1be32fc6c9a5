import json
import os

import torch

from net import SentimentNet

MODEL_DIR = os.environ.get("MODEL_DIR", "/opt/ml/model")


def model_fn(model_dir=MODEL_DIR):
    net = SentimentNet()
    net.load_state_dict(torch.load(os.path.join(model_dir, "model.pth"), map_location="cuda"))
    return net.eval()


def predict_fn(data, model):
    with torch.no_grad():
        return model(torch.tensor(data["tokens"]).unsqueeze(0).to(next(model.parameters()).device))


def output_fn(prediction, accept="application/json"):
    return json.dumps(prediction.softmax(-1).tolist())
