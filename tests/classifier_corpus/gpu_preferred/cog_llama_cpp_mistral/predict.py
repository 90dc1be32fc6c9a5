from cog import BasePredictor, Input
from llama_cpp import Llama


class Predictor(BasePredictor):
    def setup(self):
        self.llm = Llama(model_path="/src/models/mistral-7b-instruct-v0.2.Q4_K_M.gguf", n_ctx=4096, n_gpu_layers=-1)

    def predict(self, prompt: str = Input(description="prompt"),
                max_tokens: int = Input(default=512, ge=1, le=4096)) -> str:
        out = self.llm(f"[INST] {prompt} [/INST]", max_tokens=max_tokens, temperature=0.7)
        return out["choices"][0]["text"]
