import base64
import io

from PIL import Image, ImageOps


def handle(req):
    image = Image.open(io.BytesIO(base64.b64decode(req)))
    thumb = ImageOps.fit(image.convert("RGB"), (128, 128))
    buf = io.BytesIO()
    thumb.save(buf, "WEBP", quality=80)
    return base64.b64encode(buf.getvalue()).decode()
