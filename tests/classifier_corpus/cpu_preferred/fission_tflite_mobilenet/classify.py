import numpy as np
from flask import request
from PIL import Image
from tflite_runtime.interpreter import Interpreter

interpreter = Interpreter(model_path="/userfunc/deployarchive/mobilenet_v2_1.0_224_quant.tflite")
interpreter.allocate_tensors()
input_details = interpreter.get_input_details()[0]
output_details = interpreter.get_output_details()[0]


def main():
    image = Image.open(request.files["image"].stream).convert("RGB").resize((224, 224))
    interpreter.set_tensor(input_details["index"], np.expand_dims(np.asarray(image, dtype=np.uint8), 0))
    interpreter.invoke()
    scores = interpreter.get_tensor(output_details["index"])[0]
    return {"class": int(scores.argmax())}
