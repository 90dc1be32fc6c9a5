import base64
import io
import json

from .loader import load_pipeline

PIPE = load_pipeline()


def handle(req):
    body = json.loads(req)
    image = PIPE(prompt=body["prompt"], num_inference_steps=body.get("steps", 30)).images[0]
    out = io.BytesIO()
    image.save(out, format="JPEG")
    return json.dumps({"image": base64.b64encode(out.getvalue()).decode()})
