import base64
import io
import json
import os

import torch
from PIL import Image
from torchvision.models.detection import fasterrcnn_resnet50_fpn_v2
from torchvision.transforms.functional import to_tensor

model = None
device = None


def init():
    global model, device
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = fasterrcnn_resnet50_fpn_v2(weights=None, num_classes=5)
    model.load_state_dict(torch.load(os.path.join(os.environ["AZUREML_MODEL_DIR"], "detector.pt"), map_location=device))
    model.to(device).eval()


def run(raw_data):
    image = Image.open(io.BytesIO(base64.b64decode(json.loads(raw_data)["image"]))).convert("RGB")
    with torch.no_grad():
        out = model([to_tensor(image).to(device)])[0]
    keep = out["scores"] > 0.5
    return {"boxes": out["boxes"][keep].tolist(), "labels": out["labels"][keep].tolist()}
