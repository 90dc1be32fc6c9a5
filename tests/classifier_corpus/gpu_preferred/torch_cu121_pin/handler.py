import io

import torch
from PIL import Image
from torchvision.models import mobilenet_v3_small, MobileNet_V3_Small_Weights

weights = MobileNet_V3_Small_Weights.DEFAULT
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
net = mobilenet_v3_small(weights=weights).to(device).eval()
preprocess = weights.transforms()


def handle(req):
    x = preprocess(Image.open(io.BytesIO(req)).convert("RGB")).unsqueeze(0).to(device)
    with torch.inference_mode():
        return weights.meta["categories"][int(net(x).argmax())]
