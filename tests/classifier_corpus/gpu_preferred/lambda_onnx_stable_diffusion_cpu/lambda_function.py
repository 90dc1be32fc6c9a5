import base64
import io
import json

from optimum.onnxruntime import ORTStableDiffusionPipeline

pipe = ORTStableDiffusionPipeline.from_pretrained("/opt/models/sd15-onnx", provider="CPUExecutionProvider")


def lambda_handler(event, context):
    prompt = json.loads(event["body"])["prompt"]
    image = pipe(prompt, num_inference_steps=20, height=512, width=512).images[0]
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return {"statusCode": 200, "body": json.dumps({"png": base64.b64encode(buffer.getvalue()).decode()})}
