"""RunPod worker: transcribe and align an audio file with WhisperX."""
import base64
import tempfile

import runpod
import whisperx

MODEL = whisperx.load_model("large-v3", "cuda", compute_type="float16")


def transcribe(job):
    payload = job["input"]
    with tempfile.NamedTemporaryFile(suffix=".wav") as audio_file:
        audio_file.write(base64.b64decode(payload["audio_base64"]))
        audio_file.flush()
        audio = whisperx.load_audio(audio_file.name)
    result = MODEL.transcribe(audio, batch_size=int(payload.get("batch_size", 16)))
    return {"language": result["language"], "segments": result["segments"]}


runpod.serverless.start({"handler": transcribe})
