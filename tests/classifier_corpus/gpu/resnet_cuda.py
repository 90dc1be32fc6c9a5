"""Image classification with ResNet-50 on the GPU."""
import base64
import io
import json

import torch
from PIL import Image
from torchvision import models, transforms

weights = models.ResNet50_Weights.DEFAULT
model = models.resnet50(weights=weights).cuda().eval()
preprocess = weights.transforms()


def handle(req):
    payload = json.loads(req)
    image = Image.open(io.BytesIO(base64.b64decode(payload["image"]))).convert("RGB")
    batch = preprocess(image).unsqueeze(0).cuda()
    with torch.no_grad():
        scores = model(batch).softmax(dim=1)[0]
    top = scores.topk(5)
    labels = weights.meta["categories"]
    return json.dumps([{"label": labels[i], "score": float(s)} for s, i in zip(top.values, top.indices)])
