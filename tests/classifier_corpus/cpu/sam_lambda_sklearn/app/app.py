import json
import os

import joblib
import numpy as np

MODEL = joblib.load(os.path.join(os.path.dirname(__file__), "churn.joblib"))


def lambda_handler(event, context):
    rows = json.loads(event["body"])["rows"]
    scores = MODEL.predict_proba(np.asarray(rows, dtype=float))[:, 1]
    return {"statusCode": 200, "body": json.dumps({"scores": scores.round(4).tolist()})}
