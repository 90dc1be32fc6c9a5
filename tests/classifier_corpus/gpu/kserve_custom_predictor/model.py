import base64
import io

import kserve
import torch
from PIL import Image
from transformers import CLIPModel, CLIPProcessor

LABELS = ["a photo of a cat", "a photo of a dog", "a photo of a car"]


class ClipTagger(kserve.Model):
    def __init__(self, name):
        super().__init__(name)
        self.ready = False

    def load(self):
        self.processor = CLIPProcessor.from_pretrained("openai/clip-vit-base-patch32")
        self.model = CLIPModel.from_pretrained("openai/clip-vit-base-patch32").to("cuda:0").eval()
        self.ready = True

    def predict(self, payload, headers=None):
        image = Image.open(io.BytesIO(base64.b64decode(payload["instances"][0]["image"])))
        inputs = self.processor(text=LABELS, images=image, return_tensors="pt", padding=True).to("cuda:0")
        with torch.no_grad():
            probs = self.model(**inputs).logits_per_image.softmax(dim=1)
        return {"predictions": probs.tolist()}


if __name__ == "__main__":
    model = ClipTagger("clip-tagger")
    model.load()
    kserve.ModelServer().start([model])
