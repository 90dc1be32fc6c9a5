from concurrent.futures import ThreadPoolExecutor

from faster_whisper import WhisperModel

AVAILABLE_MODELS = ["tiny", "base", "small", "medium", "large-v2", "large-v3"]


class Predictor:
    def setup(self):
        self.models = {}
        with ThreadPoolExecutor() as executor:
            for name, model in zip(AVAILABLE_MODELS, executor.map(self.load_model, AVAILABLE_MODELS)):
                self.models[name] = model

    def load_model(self, name):
        return WhisperModel(name, device="cuda", compute_type="float16")

    def predict(self, audio, model_name="large-v3", beam_size=5):
        segments, info = self.models[model_name].transcribe(str(audio), beam_size=beam_size)
        return {"language": info.language, "segments": [{"start": s.start, "end": s.end, "text": s.text}
                                                        for s in segments]}
