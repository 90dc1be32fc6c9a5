import datetime
import io
import json
import os

import torch
from PIL import Image
from torchvision import transforms
from torchvision.models import resnet18

SCRIPT_DIR = os.path.dirname(os.path.realpath(__file__))
model = resnet18()
model.load_state_dict(torch.load(os.path.join(SCRIPT_DIR, "resnet18.pth"), map_location="cpu"))
model.eval()
preprocess = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor()])


def handler(event):
    begin = datetime.datetime.now()
    image = Image.open(io.BytesIO(bytes.fromhex(event["image_hex"]))).convert("RGB")
    with torch.no_grad():
        index = int(model(preprocess(image).unsqueeze(0)).argmax())
    return {"result": {"idx": index}, "measurement": {"compute_time": (datetime.datetime.now() - begin).microseconds}}
