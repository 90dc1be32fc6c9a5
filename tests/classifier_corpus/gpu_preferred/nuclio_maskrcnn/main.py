import base64
import io
import json

import numpy as np
import torch
from detectron2 import model_zoo
from detectron2.config import get_cfg
from detectron2.engine import DefaultPredictor
from PIL import Image

CONFIG = "COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_3x.yaml"


def init_context(context):
    cfg = get_cfg()
    cfg.merge_from_file(model_zoo.get_config_file(CONFIG))
    cfg.MODEL.WEIGHTS = model_zoo.get_checkpoint_url(CONFIG)
    cfg.MODEL.DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
    context.user_data.predictor = DefaultPredictor(cfg)


def handler(context, event):
    image = np.asarray(Image.open(io.BytesIO(base64.b64decode(event.body["image"]))).convert("RGB"))[:, :, ::-1]
    instances = context.user_data.predictor(image)["instances"].to("cpu")
    boxes = instances.pred_boxes.tensor.tolist()
    return context.Response(body=json.dumps(boxes), content_type="application/json", status_code=200)
