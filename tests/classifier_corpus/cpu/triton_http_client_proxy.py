import json
import os

import numpy as np
import tritonclient.http as httpclient

client = httpclient.InferenceServerClient(url=os.getenv("TRITON_URL", "triton.models:8000"))


def handle(req):
    batch = np.asarray(json.loads(req)["pixels"], dtype=np.float32)
    inputs = [httpclient.InferInput("input__0", list(batch.shape), "FP32")]
    inputs[0].set_data_from_numpy(batch)
    result = client.infer("resnet50", inputs, outputs=[httpclient.InferRequestedOutput("output__0")])
    return json.dumps({"class": int(result.as_numpy("output__0").argmax())})
