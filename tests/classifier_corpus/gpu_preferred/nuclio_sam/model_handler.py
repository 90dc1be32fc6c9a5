import numpy as np
import torch
from segment_anything import SamPredictor, sam_model_registry

CHECKPOINT = "/opt/nuclio/weights/sam_vit_h.pth"


class Segmenter:
    def __init__(self, variant="vit_h"):
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        sam = sam_model_registry[variant](checkpoint=CHECKPOINT)
        self.predictor = SamPredictor(sam.to(self.device))

    def embed(self, image):
        self.predictor.set_image(np.asarray(image))
        return self.predictor.get_image_embedding().cpu().numpy()
