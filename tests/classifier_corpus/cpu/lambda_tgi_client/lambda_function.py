import json
import os

from text_generation import Client

client = Client(os.environ["TGI_ENDPOINT"], headers={"Authorization": f"Bearer {os.environ['HF_TOKEN']}"},
                timeout=60)


def lambda_handler(event, context):
    prompt = json.loads(event["body"])["prompt"]
    response = client.generate(prompt, max_new_tokens=512, temperature=0.7, top_p=0.95)
    return {"statusCode": 200, "body": json.dumps({"text": response.generated_text})}
