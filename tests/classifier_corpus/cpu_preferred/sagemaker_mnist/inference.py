import json
import os

import torch

from model import Net

device = torch.device("cuda" if torch.cuda.is_available() else "cpu")


def model_fn(model_dir):
    model = Net()
    with open(os.path.join(model_dir, "model.pth"), "rb") as f:
        model.load_state_dict(torch.load(f, map_location=device))
    return model.to(device).eval()


def input_fn(request_body, content_type="application/json"):
    pixels = json.loads(request_body)["pixels"]
    return torch.tensor(pixels, dtype=torch.float32).view(1, 1, 28, 28)


def predict_fn(batch, model):
    with torch.no_grad():
        return model(batch.to(device)).argmax(dim=1).tolist()
