import base64
import io

import runpod
from bark import SAMPLE_RATE, generate_audio, preload_models
from scipy.io.wavfile import write as write_wav

preload_models()


def handler(job):
    text = job["input"]["text"]
    audio = generate_audio(text, history_prompt=job["input"].get("voice", "v2/en_speaker_6"))
    buffer = io.BytesIO()
    write_wav(buffer, SAMPLE_RATE, audio)
    return {"audio_base64": base64.b64encode(buffer.getvalue()).decode()}


runpod.serverless.start({"handler": handler})
