import datetime
import io
import json
import os

import torch
from PIL import Image
from torchvision import transforms
from torchvision.models import resnet50

SCRIPT_DIR = os.path.dirname(os.path.realpath(__file__))
class_idx = json.load(open(os.path.join(SCRIPT_DIR, "imagenet_class_index.json")))
idx2label = [class_idx[str(k)][1] for k in range(len(class_idx))]
model = None


def handler(event):
    global model
    image_bytes = event["image"].encode("latin1")
    process_begin = datetime.datetime.now()
    if model is None:
        model = resnet50(pretrained=False)
        model.load_state_dict(torch.load(os.path.join(SCRIPT_DIR, "resnet50.pth")))
        model.eval()
    preprocess = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
                                     transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])])
    batch = preprocess(Image.open(io.BytesIO(image_bytes)).convert("RGB")).unsqueeze(0)
    with torch.no_grad():
        index = int(torch.argmax(model(batch)))
    process_end = datetime.datetime.now()
    return {"result": {"class": idx2label[index]},
            "measurement": {"compute_time": (process_end - process_begin) / datetime.timedelta(microseconds=1)}}
