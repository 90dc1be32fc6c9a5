import io
import json

import timm
import torch
from PIL import Image

device = "cuda" if torch.cuda.is_available() else "cpu"
model = timm.create_model("vit_large_patch16_224", pretrained=True, num_classes=0).to(device).eval()
config = timm.data.resolve_data_config({}, model=model)
transform = timm.data.create_transform(**config)


def handle(req: bytes) -> str:
    image = transform(Image.open(io.BytesIO(req)).convert("RGB")).unsqueeze(0).to(device)
    with torch.no_grad():
        return json.dumps(model(image)[0].tolist())
