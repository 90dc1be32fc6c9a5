import json

import numpy as np
import tflite_runtime.interpreter as tflite

interpreter = tflite.Interpreter(model_path="mobilenet_v2_1.0_224_quant.tflite")
interpreter.allocate_tensors()
inp = interpreter.get_input_details()[0]
out = interpreter.get_output_details()[0]


def handle(req):
    pixels = np.array(json.loads(req)["pixels"], dtype=np.uint8).reshape(inp["shape"])
    interpreter.set_tensor(inp["index"], pixels)
    interpreter.invoke()
    return json.dumps({"class": int(interpreter.get_tensor(out["index"]).argmax())})
