import io
import json

from PIL import Image
from ultralytics import YOLO

model = YOLO("yolov8n.pt")


def handle(event, context):
    image = Image.open(io.BytesIO(event.body))
    result = model.predict(image, device=0 if model.device.type == "cuda" else "cpu", verbose=False)[0]
    boxes = [{"cls": int(b.cls), "conf": float(b.conf)} for b in result.boxes]
    return {"statusCode": 200, "body": json.dumps(boxes)}
