"""Batch image tagging; the service is only ever scheduled on GPU nodes."""
import io
import json

import torch
from PIL import Image
from torchvision import models, transforms


def pick_device():
    if torch.cuda.is_available():
        return torch.device("cuda")
    raise RuntimeError("this function needs an NVIDIA GPU")


DEVICE = pick_device()
model = models.resnet50(weights=models.ResNet50_Weights.DEFAULT).to(DEVICE).eval()
prep = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor()])


def handle(req: bytes) -> str:
    image = Image.open(io.BytesIO(req)).convert("RGB")
    with torch.no_grad():
        logits = model(prep(image).unsqueeze(0).to(DEVICE))
    return json.dumps({"class": int(logits.argmax())})
