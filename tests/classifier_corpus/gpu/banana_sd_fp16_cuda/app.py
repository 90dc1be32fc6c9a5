import base64
from io import BytesIO

import torch
from diffusers import StableDiffusionPipeline
from potassium import Potassium, Request, Response

app = Potassium("sd")


@app.init
def init():
    pipe = StableDiffusionPipeline.from_pretrained("runwayml/stable-diffusion-v1-5", torch_dtype=torch.float16,
                                                   revision="fp16").to("cuda")
    return {"pipe": pipe}


@app.handler()
def handler(context: dict, request: Request) -> Response:
    image = context["pipe"](request.json["prompt"], num_inference_steps=request.json.get("steps", 25)).images[0]
    buffered = BytesIO()
    image.save(buffered, format="JPEG")
    return Response(json={"image_base64": base64.b64encode(buffered.getvalue()).decode()}, status=200)


if __name__ == "__main__":
    app.serve()
