import modal

image = modal.Image.debian_slim().pip_install("insightface==0.7.3", "onnxruntime-gpu", "opencv-python-headless")
app = modal.App("face-embeddings", image=image)


@app.cls(gpu="any")
class Faces:
    @modal.enter()
    def start(self):
        from insightface.app import FaceAnalysis

        self.analyser = FaceAnalysis(name="buffalo_l", providers=["CUDAExecutionProvider", "CPUExecutionProvider"])
        self.analyser.prepare(ctx_id=0, det_size=(640, 640))

    @modal.method()
    def embed(self, jpeg: bytes):
        import cv2
        import numpy as np

        img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        return [face.normed_embedding.tolist() for face in self.analyser.get(img)]
