import json

from fastembed import TextEmbedding

embedder = TextEmbedding(model_name="BAAI/bge-small-en-v1.5", cache_dir="/opt/models")


def handler(event, context):
    documents = json.loads(event["body"])["documents"]
    vectors = [v.tolist() for v in embedder.embed(documents, batch_size=16)]
    return {"statusCode": 200, "body": json.dumps({"vectors": vectors})}
