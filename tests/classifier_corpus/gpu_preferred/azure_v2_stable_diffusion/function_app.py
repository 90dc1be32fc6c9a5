import base64
import io
import json

import azure.functions as func
import torch
from diffusers import StableDiffusionPipeline

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
device = "cuda" if torch.cuda.is_available() else "cpu"
pipe = StableDiffusionPipeline.from_pretrained("runwayml/stable-diffusion-v1-5").to(device)


@app.route(route="imagine", methods=["POST"])
def imagine(req: func.HttpRequest) -> func.HttpResponse:
    prompt = req.get_json()["prompt"]
    image = pipe(prompt, num_inference_steps=25).images[0]
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return func.HttpResponse(json.dumps({"png": base64.b64encode(buffer.getvalue()).decode()}),
                             mimetype="application/json")
