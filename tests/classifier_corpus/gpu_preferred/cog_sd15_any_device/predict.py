import torch
from cog import BasePredictor, Input, Path
from diffusers import DiffusionPipeline

DEVICE = "cpu"
if torch.backends.mps.is_available():
    DEVICE = "mps"
elif torch.cuda.is_available():
    DEVICE = "cuda"


class Predictor(BasePredictor):
    def setup(self) -> None:
        self.pipeline = DiffusionPipeline.from_pretrained("runwayml/stable-diffusion-v1-5")
        self.pipeline.to(DEVICE)

    def predict(self, prompt: str = Input(description="prompt", default="a lighthouse at dusk")) -> Path:
        image = self.pipeline(prompt).images[0]
        image.save("output.jpg")
        return Path("output.jpg")
