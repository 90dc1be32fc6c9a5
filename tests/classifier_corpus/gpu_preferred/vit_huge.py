import io

import torch
from PIL import Image
from torchvision.models import ViT_H_14_Weights, vit_h_14

device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
weights = ViT_H_14_Weights.IMAGENET1K_SWAG_E2E_V1
net = vit_h_14(weights=weights).to(device).eval()
transform = weights.transforms()


def handle(req: bytes):
    img = Image.open(io.BytesIO(req)).convert("RGB")
    with torch.no_grad():
        logits = net(transform(img).unsqueeze(0).to(device))
    return weights.meta["categories"][int(logits.argmax())]
