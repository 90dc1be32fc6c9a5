"""SageMaker endpoint that fine-tunes a T5 summariser on the posted pairs, then answers with it."""
import json

import pandas as pd
from simplet5 import SimpleT5

model = SimpleT5()
model.from_pretrained(model_type="t5", model_name="t5-base")


def input_fn(request_body, content_type="application/json"):
    return json.loads(request_body)


def predict_fn(data, _model=None):
    frame = pd.DataFrame(data["pairs"], columns=["source_text", "target_text"])
    model.train(train_df=frame, eval_df=frame.tail(8), source_max_token_len=512, target_max_token_len=128,
                batch_size=8, max_epochs=3, use_gpu=True, outputdir="/tmp/outputs")
    return [model.predict(text)[0] for text in data["inputs"]]


def output_fn(prediction, accept="application/json"):
    return json.dumps({"summaries": prediction})
