import json

from sentence_transformers import SentenceTransformer

encoder = SentenceTransformer("sentence-transformers/all-MiniLM-L6-v2")


def handle(req):
    documents = json.loads(req)["documents"]
    vectors = encoder.encode(documents, batch_size=512, normalize_embeddings=True)
    return json.dumps({"count": len(vectors), "dim": int(vectors.shape[1])})
