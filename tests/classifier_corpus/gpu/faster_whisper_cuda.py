import base64
import tempfile

from faster_whisper import WhisperModel

model = WhisperModel("small", device="cuda", compute_type="float16")


def handle(req):
    with tempfile.NamedTemporaryFile(suffix=".wav") as audio:
        audio.write(base64.b64decode(req))
        audio.flush()
        segments, _ = model.transcribe(audio.name, beam_size=5)
        return " ".join(segment.text.strip() for segment in segments)
