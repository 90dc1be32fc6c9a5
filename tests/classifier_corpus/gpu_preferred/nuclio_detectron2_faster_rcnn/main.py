import base64
import io
import json

import numpy as np
from PIL import Image

from model_loader import FasterRCNN


def init_context(context):
    context.user_data.model = FasterRCNN("COCO-Detection/faster_rcnn_R_50_FPN_3x.yaml", threshold=0.5)


def handler(context, event):
    data = event.body
    image = np.array(Image.open(io.BytesIO(base64.b64decode(data["image"]))).convert("RGB"))[:, :, ::-1]
    boxes = context.user_data.model.detect(image)
    return context.Response(body=json.dumps(boxes), headers={}, content_type="application/json", status_code=200)
