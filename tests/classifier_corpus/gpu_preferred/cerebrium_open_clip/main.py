import base64
import io

import open_clip
import torch
from PIL import Image

device = "cuda" if torch.cuda.is_available() else "cpu"
model, _, preprocess = open_clip.create_model_and_transforms("ViT-B-32", pretrained="laion2b_s34b_b79k")
model = model.to(device).eval()
tokenizer = open_clip.get_tokenizer("ViT-B-32")


def predict(image: str, labels: list[str]):
    img = preprocess(Image.open(io.BytesIO(base64.b64decode(image)))).unsqueeze(0).to(device)
    text = tokenizer(labels).to(device)
    with torch.no_grad():
        probs = (model.encode_image(img) @ model.encode_text(text).T).softmax(dim=-1)
    return dict(zip(labels, probs[0].tolist()))
