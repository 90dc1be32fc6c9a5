import torch
from cog import BasePredictor, Input, Path
from PIL import Image
from torchvision import models


class Predictor(BasePredictor):
    def setup(self):
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        weights = models.ResNet18_Weights.DEFAULT
        self.transform = weights.transforms()
        self.model = models.resnet18(weights=weights).to(self.device).eval()
        self.labels = weights.meta["categories"]

    def predict(self, image: Path = Input(description="image to classify")) -> str:
        batch = self.transform(Image.open(image).convert("RGB")).unsqueeze(0).to(self.device)
        with torch.no_grad():
            index = int(self.model(batch).argmax())
        return self.labels[index]
