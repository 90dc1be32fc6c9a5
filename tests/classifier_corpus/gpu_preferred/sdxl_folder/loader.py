import torch
from diffusers import DiffusionPipeline

BASE = "stabilityai/stable-diffusion-xl-base-1.0"


def pick_device():
    if torch.cuda.is_available():
        return "cuda"
    return "cpu"


def load_pipeline():
    pipe = DiffusionPipeline.from_pretrained(BASE, use_safetensors=True)
    return pipe.to(pick_device())
