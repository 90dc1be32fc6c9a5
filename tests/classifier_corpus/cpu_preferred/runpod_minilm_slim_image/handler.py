import runpod
import torch
from sentence_transformers import SentenceTransformer

device = "cuda" if torch.cuda.is_available() else "cpu"
encoder = SentenceTransformer("sentence-transformers/paraphrase-MiniLM-L3-v2", device=device)


def embed(job):
    texts = job["input"]["texts"]
    return {"vectors": encoder.encode(texts, convert_to_numpy=True).tolist()}


runpod.serverless.start({"handler": embed})
