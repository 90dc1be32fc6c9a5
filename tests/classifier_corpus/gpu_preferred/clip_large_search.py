import io
import json

import torch
from PIL import Image
from transformers import CLIPModel, CLIPProcessor

REPO = "openai/clip-vit-large-patch14"
model = CLIPModel.from_pretrained(REPO)
processor = CLIPProcessor.from_pretrained(REPO)


def handle(req):
    body = json.loads(req)
    image = Image.open(io.BytesIO(bytes.fromhex(body["image_hex"])))
    inputs = processor(text=body["labels"], images=image, return_tensors="pt", padding=True)
    with torch.no_grad():
        probs = model(**inputs).logits_per_image.softmax(dim=1)[0]
    return json.dumps(dict(zip(body["labels"], probs.tolist())))
