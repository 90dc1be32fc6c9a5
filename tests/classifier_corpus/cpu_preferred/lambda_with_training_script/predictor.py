import torch

from vocab import encode


class Predictor:
    def __init__(self, path):
        self.model = torch.jit.load(path, map_location="cpu").eval()

    def predict(self, text):
        with torch.no_grad():
            logits = self.model(torch.tensor([encode(text)]))
        return ["negative", "positive"][int(logits.argmax())]
