import subprocess

import modal

MODEL_ID = "Qwen/Qwen2.5-7B-Instruct"
PORT = 8000

image = (
    modal.Image.debian_slim(python_version="3.11")
    .pip_install("vllm==0.6.3", "huggingface_hub[hf_transfer]")
    .env({"HF_HUB_ENABLE_HF_TRANSFER": "1"})
)
app = modal.App("qwen-openai-server")
weights = modal.Volume.from_name("hf-weights", create_if_missing=True)


@app.function(image=image, gpu="L4:1", timeout=20 * 60, volumes={"/root/.cache/huggingface": weights})
@modal.web_server(port=PORT, startup_timeout=600)
def serve():
    command = ["vllm", "serve", MODEL_ID, "--host", "0.0.0.0", "--port", str(PORT), "--max-model-len", "8192"]
    subprocess.Popen(" ".join(command), shell=True)
