import base64
import os
import tempfile

import torch
import whisper

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
model = whisper.load_model(os.getenv("WHISPER_MODEL", "large-v3"), device=DEVICE)


def handle(req):
    with tempfile.NamedTemporaryFile(suffix=".mp3") as f:
        f.write(base64.b64decode(req))
        f.flush()
        return model.transcribe(f.name)["text"]
