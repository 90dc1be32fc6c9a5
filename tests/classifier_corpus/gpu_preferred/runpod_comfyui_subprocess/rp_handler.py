import json
import subprocess
import time
import urllib.request

import runpod

COMFY = "http://127.0.0.1:8188"
server = subprocess.Popen(["python", "/comfyui/main.py", "--listen", "127.0.0.1", "--port", "8188"])


def wait_until_up():
    for _ in range(120):
        try:
            urllib.request.urlopen(COMFY, timeout=1)
            return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError("ComfyUI did not start")


def run_workflow(job):
    wait_until_up()
    payload = json.dumps({"prompt": job["input"]["workflow"]}).encode()
    with urllib.request.urlopen(urllib.request.Request(f"{COMFY}/prompt", data=payload)) as response:
        prompt_id = json.loads(response.read())["prompt_id"]
    while True:
        with urllib.request.urlopen(f"{COMFY}/history/{prompt_id}") as response:
            history = json.loads(response.read())
        if prompt_id in history:
            return history[prompt_id]["outputs"]
        time.sleep(1)


runpod.serverless.start({"handler": run_workflow})
