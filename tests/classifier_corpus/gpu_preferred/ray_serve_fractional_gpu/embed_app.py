import torch
from ray import serve
from sentence_transformers import SentenceTransformer
from starlette.requests import Request


@serve.deployment(ray_actor_options={"num_gpus": 0.25})
class Embedder:
    def __init__(self):
        device = "cuda" if torch.cuda.is_available() else "cpu"
        self.model = SentenceTransformer("BAAI/bge-small-en-v1.5", device=device)

    async def __call__(self, request: Request):
        return self.model.encode((await request.json())["texts"]).tolist()


app = Embedder.bind()
