import json

from sentence_transformers import SentenceTransformer

model = SentenceTransformer("sentence-transformers/all-MiniLM-L6-v2")


def handle(req):
    sentences = json.loads(req)["sentences"]
    vectors = model.encode(sentences, batch_size=32, normalize_embeddings=True)
    return json.dumps({"embeddings": vectors.tolist()})
