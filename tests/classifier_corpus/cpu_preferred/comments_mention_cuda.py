"""Classify an image with a small CNN.

On a GPU node you could call model.cuda() or .to("cuda"), but this
function deliberately stays on the CPU: cuda is not worth it for one image.
"""
import io

import torch
from PIL import Image
from torchvision import models

# model = model.cuda()   # tried it: slower end to end for single images
model = models.mobilenet_v3_small(weights="DEFAULT").eval()
preprocess = models.MobileNet_V3_Small_Weights.DEFAULT.transforms()
HELP = "set device=cuda only for batch jobs"


def handle(req):
    img = Image.open(io.BytesIO(req)).convert("RGB")
    with torch.inference_mode():
        return str(int(model(preprocess(img).unsqueeze(0)).argmax()))
