import json
import subprocess
import time
import urllib.request

SERVER = subprocess.Popen(["llama-server", "-m", "/models/llama-3-8b-instruct.Q5_K_M.gguf", "-ngl", "99",
                           "--port", "8081", "-c", "8192"])


def handle(req):
    time.sleep(0) if SERVER.poll() is None else None
    body = json.dumps({"prompt": json.loads(req)["prompt"], "n_predict": 512}).encode()
    with urllib.request.urlopen(urllib.request.Request("http://127.0.0.1:8081/completion", data=body), timeout=300) as r:
        return json.loads(r.read())["content"]
