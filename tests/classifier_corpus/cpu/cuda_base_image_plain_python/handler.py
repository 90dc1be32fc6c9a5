import base64
import io

import requests
import runpod
from PIL import Image


def thumbnail(job):
    url = job["input"]["url"]
    image = Image.open(io.BytesIO(requests.get(url, timeout=30).content))
    image.thumbnail((256, 256))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return {"thumbnail": base64.b64encode(out.getvalue()).decode()}


runpod.serverless.start({"handler": thumbnail})
