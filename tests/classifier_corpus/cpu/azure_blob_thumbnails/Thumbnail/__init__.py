import io
import logging

import azure.functions as func
from PIL import Image, ImageOps


def main(blob: func.InputStream, out: func.Out[bytes]) -> None:
    logging.info("resizing %s (%d bytes)", blob.name, blob.length)
    image = ImageOps.exif_transpose(Image.open(io.BytesIO(blob.read()))).convert("RGB")
    image = image.resize((1920, 1080), Image.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    out.set(buffer.getvalue())
