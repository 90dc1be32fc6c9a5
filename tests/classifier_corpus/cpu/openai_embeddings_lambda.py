import json
import os

from openai import OpenAI

client = OpenAI(api_key=os.environ["OPENAI_API_KEY"])


def lambda_handler(event, context):
    texts = json.loads(event["body"])["texts"]
    response = client.embeddings.create(model="text-embedding-3-large", input=texts, dimensions=1024)
    return {"statusCode": 200, "body": json.dumps([item.embedding for item in response.data])}
