import json
import os

import torch

from model import TabularNet


def model_fn(model_dir):
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    net = torch.nn.DataParallel(TabularNet(n_features=64))
    with open(os.path.join(model_dir, "model.pth"), "rb") as f:
        net.load_state_dict(torch.load(f, map_location=device))
    return net.to(device).eval()


def input_fn(body, content_type):
    return torch.tensor(json.loads(body)["rows"], dtype=torch.float32)


def predict_fn(rows, model):
    device = next(model.parameters()).device
    with torch.no_grad():
        return model(rows.to(device)).softmax(-1)


def output_fn(prediction, accept):
    return json.dumps(prediction.cpu().tolist())
