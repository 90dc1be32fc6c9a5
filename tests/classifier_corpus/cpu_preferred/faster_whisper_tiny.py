import base64
import io

import torch
from faster_whisper import WhisperModel

device = "cuda" if torch.cuda.is_available() else "cpu"
model = WhisperModel("tiny.en", device=device, compute_type="float16" if device == "cuda" else "int8")


def handle(req):
    segments, info = model.transcribe(io.BytesIO(base64.b64decode(req)), beam_size=1)
    return {"language": info.language, "text": "".join(s.text for s in segments)}
