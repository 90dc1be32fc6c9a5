import base64
import tempfile

import whisper

model = whisper.load_model("base")


def handle(req):
    with tempfile.NamedTemporaryFile(suffix=".wav") as tmp:
        tmp.write(base64.b64decode(req))
        tmp.flush()
        result = model.transcribe(tmp.name, fp16=False)
    return result["text"]
