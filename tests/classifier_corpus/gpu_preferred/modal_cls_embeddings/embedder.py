import modal

image = modal.Image.debian_slim().pip_install("sentence-transformers==2.7.0", "torch")
app = modal.App("docs-embedder", image=image)


@app.cls(gpu="T4", container_idle_timeout=300)
class Embedder:
    @modal.enter()
    def load(self):
        import torch
        from sentence_transformers import SentenceTransformer

        device = "cuda" if torch.cuda.is_available() else "cpu"
        self.model = SentenceTransformer("sentence-transformers/all-mpnet-base-v2", device=device)

    @modal.method()
    def embed(self, texts: list[str]) -> list[list[float]]:
        return self.model.encode(texts, normalize_embeddings=True).tolist()


@app.local_entrypoint()
def main():
    print(len(Embedder().embed.remote(["hello", "world"])))
