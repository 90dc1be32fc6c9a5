import json

import torch
from sentence_transformers import SentenceTransformer

model = SentenceTransformer("sentence-transformers/all-MiniLM-L6-v2",
                            device="cuda" if torch.cuda.is_available() else "cpu")


def handle(req):
    documents = json.loads(req)["documents"]  # nightly re-index: tens of thousands per call
    vectors = model.encode(documents, batch_size=512, show_progress_bar=False, normalize_embeddings=True)
    return json.dumps({"count": len(vectors), "dim": int(vectors.shape[1])})
