import io
import json

import boto3
from pypdf import PdfReader

s3 = boto3.client("s3")


def lambda_handler(event, context):
    record = event["Records"][0]["s3"]
    body = s3.get_object(Bucket=record["bucket"]["name"], Key=record["object"]["key"])["Body"].read()
    text = "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(body)).pages)
    return {"statusCode": 200, "body": json.dumps({"characters": len(text)})}
