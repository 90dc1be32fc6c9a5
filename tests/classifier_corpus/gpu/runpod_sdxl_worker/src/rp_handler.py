import base64
import io

import runpod
import torch
from diffusers import StableDiffusionXLPipeline
from runpod.serverless.utils.rp_validator import validate

SCHEMA = {"prompt": {"type": str, "required": True}, "steps": {"type": int, "required": False, "default": 30}}

pipe = StableDiffusionXLPipeline.from_pretrained("stabilityai/stable-diffusion-xl-base-1.0", torch_dtype=torch.float16,
                                                 variant="fp16", use_safetensors=True)
pipe.to("cuda")
pipe.enable_xformers_memory_efficient_attention()


def generate(job):
    checked = validate(job["input"], SCHEMA)
    if "errors" in checked:
        return {"error": checked["errors"]}
    params = checked["validated_input"]
    image = pipe(prompt=params["prompt"], num_inference_steps=params["steps"]).images[0]
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return {"image": base64.b64encode(buffer.getvalue()).decode()}


runpod.serverless.start({"handler": generate})
