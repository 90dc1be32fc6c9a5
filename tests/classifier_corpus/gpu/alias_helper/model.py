import torch as T
from torch import device

from .config import ACCELERATOR

DEV = device(ACCELERATOR)


class Segmenter:
    def __init__(self):
        self.net = T.jit.load("unet.pt", map_location="cpu").to(DEV).eval()

    def predict(self, pixels):
        x = T.tensor(pixels, dtype=T.float32, device=DEV).unsqueeze(0)
        with T.no_grad():
            return (self.net(x) > 0.5).cpu()
