import base64
import io
import json

from PIL import Image

from model_handler import Segmenter


def init_context(context):
    context.user_data.segmenter = Segmenter()


def handler(context, event):
    image = Image.open(io.BytesIO(base64.b64decode(event.body["image"]))).convert("RGB")
    embedding = context.user_data.segmenter.embed(image)
    return context.Response(body=json.dumps({"shape": list(embedding.shape)}), content_type="application/json",
                            status_code=200)
