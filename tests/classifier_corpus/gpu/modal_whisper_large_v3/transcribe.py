import modal

image = modal.Image.debian_slim(python_version="3.11").pip_install("torch", "transformers", "accelerate", "librosa")
app = modal.App("whisper-large-v3", image=image)
MODEL = "openai/whisper-large-v3"


@app.cls(gpu="A10G", container_idle_timeout=240)
class Transcriber:
    @modal.enter()
    def load(self):
        import torch
        from transformers import pipeline

        self.pipe = pipeline("automatic-speech-recognition", model=MODEL, torch_dtype=torch.float16,
                             device="cuda:0", chunk_length_s=30)

    @modal.method()
    def transcribe(self, audio: bytes) -> str:
        return self.pipe(audio, batch_size=8)["text"]
