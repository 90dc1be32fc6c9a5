import json

import boto3

bedrock = boto3.client("bedrock-runtime")
MODEL_ID = "anthropic.claude-3-sonnet-20240229-v1:0"


def lambda_handler(event, context):
    question = json.loads(event["body"])["question"]
    body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 2048,
            "messages": [{"role": "user", "content": question}]}
    response = bedrock.invoke_model(modelId=MODEL_ID, body=json.dumps(body))
    answer = json.loads(response["body"].read())["content"][0]["text"]
    return {"statusCode": 200, "body": json.dumps({"answer": answer})}
