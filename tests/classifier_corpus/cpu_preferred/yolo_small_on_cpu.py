import io
import json

from PIL import Image
from ultralytics import YOLO

model = YOLO("yolov8s.pt")


def handle(req: bytes) -> str:
    result = model.predict(Image.open(io.BytesIO(req)), device="cpu", imgsz=640, verbose=False)[0]
    return json.dumps([{"cls": result.names[int(b.cls)], "conf": float(b.conf)} for b in result.boxes])
