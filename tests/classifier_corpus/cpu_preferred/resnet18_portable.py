import io
import json

import torch
import torchvision.models as models
import torchvision.transforms as T
from PIL import Image

device = torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
model = models.resnet18(weights="IMAGENET1K_V1").to(device).eval()
transform = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(),
                       T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])


def handle(req):
    image = Image.open(io.BytesIO(req)).convert("RGB")
    with torch.no_grad():
        out = model(transform(image).unsqueeze(0).to(device))
    return json.dumps({"class": int(out.argmax(1))})
