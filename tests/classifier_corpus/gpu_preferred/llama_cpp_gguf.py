import json
import os

from llama_cpp import Llama

llm = Llama(
    model_path=os.environ.get("MODEL_PATH", "/models/llama-2-7b-chat.Q4_K_M.gguf"),
    n_ctx=2048,
    n_gpu_layers=-1,
)


def handle(req):
    body = json.loads(req)
    out = llm(body["prompt"], max_tokens=body.get("max_tokens", 200), stop=["</s>"])
    return out["choices"][0]["text"]
