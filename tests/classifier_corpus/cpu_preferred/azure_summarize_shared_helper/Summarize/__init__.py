import json

import azure.functions as func
import torch
from transformers import pipeline

from ..shared.app import clean_text

summarizer = pipeline("summarization", model="facebook/bart-large-cnn",
                      device=0 if torch.cuda.is_available() else -1)


def main(req: func.HttpRequest) -> func.HttpResponse:
    text = clean_text(req.get_json()["text"])
    summary = summarizer(text, max_length=142, min_length=56, do_sample=False)[0]["summary_text"]
    return func.HttpResponse(json.dumps({"summary": summary}), mimetype="application/json")
