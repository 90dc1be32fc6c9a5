import numpy as np
import onnxruntime as ort


class Detector:
    def __init__(self, path, size=640):
        providers = ["CPUExecutionProvider"]
        if "CUDAExecutionProvider" in ort.get_available_providers():
            providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
        self.session = ort.InferenceSession(path, providers=providers)
        self.size = size

    def detect(self, image):
        pixels = np.asarray(image.convert("RGB").resize((self.size, self.size)), dtype=np.float32) / 255.0
        batch = pixels.transpose(2, 0, 1)[None]
        (raw,) = self.session.run(None, {self.session.get_inputs()[0].name: batch})
        rows = raw[0].T
        keep = rows[:, 4:].max(axis=1) > 0.25
        return rows[keep, :4].round(1).tolist()
