import base64
import io
import json

from PIL import Image

from detector import Detector


def init_context(context):
    context.user_data.detector = Detector("yolov8n.onnx")


def handler(context, event):
    image = Image.open(io.BytesIO(base64.b64decode(event.body["image"])))
    return context.Response(body=json.dumps(context.user_data.detector.detect(image)),
                            content_type="application/json", status_code=200)
