import json

from predictor import Predictor

predictor = Predictor("artifacts/textcnn.pt")


def lambda_handler(event, context):
    body = json.loads(event["body"])
    return {"statusCode": 200, "body": json.dumps({"label": predictor.predict(body["text"])})}
