import base64
import tempfile

import runpod
import torch
import whisper

model = whisper.load_model("small", device="cuda" if torch.cuda.is_available() else "cpu")


def handler(job):
    with tempfile.NamedTemporaryFile(suffix=".ogg") as f:
        f.write(base64.b64decode(job["input"]["audio"]))
        f.flush()
        return {"text": model.transcribe(f.name, fp16=torch.cuda.is_available())["text"]}


runpod.serverless.start({"handler": handler})
