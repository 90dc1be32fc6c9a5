import base64
import io
import json

from PIL import Image
from ultralytics import YOLO


def init_context(context):
    context.user_data.model = YOLO("yolov8m-seg.pt")


def handler(context, event):
    data = event.body
    image = Image.open(io.BytesIO(base64.b64decode(data["image"])))
    threshold = float(data.get("threshold", 0.5))
    results = context.user_data.model(image, conf=threshold)
    shapes = [{"label": results[0].names[int(c)], "points": m.xy[0].flatten().tolist()}
              for c, m in zip(results[0].boxes.cls, results[0].masks)]
    return context.Response(body=json.dumps(shapes), headers={}, content_type="application/json", status_code=200)
