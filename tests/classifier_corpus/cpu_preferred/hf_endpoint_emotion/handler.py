from typing import Any, Dict, List

from transformers import pipeline


class EndpointHandler:
    def __init__(self, path=""):
        self.pipeline = pipeline("text-classification", model=path, top_k=None)

    def __call__(self, data: Dict[str, Any]) -> List[List[Dict[str, float]]]:
        inputs = data.pop("inputs", data)
        return self.pipeline(inputs)
