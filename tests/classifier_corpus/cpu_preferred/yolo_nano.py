import io
import json

from PIL import Image
from ultralytics import YOLO

detector = YOLO("yolov8n.pt")


def handle(req):
    image = Image.open(io.BytesIO(req))
    result = detector(image, verbose=False)[0]
    return json.dumps([{"cls": result.names[int(b.cls)], "conf": float(b.conf)} for b in result.boxes])
