import base64
import tempfile

from beam import Image, endpoint


def load_model():
    import whisper

    return whisper.load_model("base")


@endpoint(name="whisper-base", gpu="T4", cpu=2, memory="8Gi", on_start=load_model,
          image=Image(python_version="python3.10", python_packages=["openai-whisper"]).add_commands(
              ["apt-get update -y", "apt-get install ffmpeg -y"]))
def transcribe(context, audio_base64: str):
    model = context.on_start_value
    with tempfile.NamedTemporaryFile(suffix=".mp3") as f:
        f.write(base64.b64decode(audio_base64))
        f.flush()
        return {"text": model.transcribe(f.name)["text"]}
