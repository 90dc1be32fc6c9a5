import json
import os

import requests

ENDPOINT = os.getenv("LLM_ENDPOINT", "https://api.together.xyz/v1/chat/completions")
MODEL = "meta-llama/Llama-2-70b-chat-hf"


def handle(req):
    response = requests.post(
        ENDPOINT,
        headers={"Authorization": f"Bearer {os.environ['API_KEY']}"},
        json={"model": MODEL, "messages": [{"role": "user", "content": req}], "max_tokens": 1024},
        timeout=60,
    )
    response.raise_for_status()
    return json.dumps(response.json()["choices"][0]["message"])
