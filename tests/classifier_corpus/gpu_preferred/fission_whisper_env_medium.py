import os
import tempfile

import whisper
from flask import request

MODEL = whisper.load_model(os.getenv("WHISPER_MODEL", "medium"))


def main():
    with tempfile.NamedTemporaryFile(suffix=".wav") as f:
        f.write(request.get_data())
        f.flush()
        return MODEL.transcribe(f.name, language=request.args.get("lang"))["text"]
