"""The four reference functions served by the real gaia-python runtime (gunicorn) over loopback HTTP.

Each function folder is assembled with the template the way faas-cli's shrinkwrap does, started as its own
runtime process with tiny models, and called like the gateway would call it.
"""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from gaia_faas.runtime_process import RuntimeProcess, assemble_build_context

FUNCTIONS = Path(__file__).resolve().parent.parent / "functions"


def post(url: str, body: bytes, timeout: float = 30) -> tuple[int, str, dict]:
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.headers.get("Content-Type", ""), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), json.loads(exc.read())


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def load_module(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def serve(tmp_path_factory):
    """Start a function in the runtime; every process started is stopped at the end of the module."""
    started = []

    def start(function: str, variant: str = "cpu", env: dict | None = None, workers: int = 1) -> RuntimeProcess:
        build_dir = tmp_path_factory.mktemp(f"build-{function}")
        context = assemble_build_context(FUNCTIONS / function, build_dir)
        # An empty torch hub cache: a checkpoint cached on this machine must not change what the tests see.
        base_env = {"TORCH_HOME": str(tmp_path_factory.mktemp("torch-home")), "HF_HUB_OFFLINE": "1"}
        runtime = RuntimeProcess(context, variant=variant, env={**base_env, **(env or {})}, workers=workers, threads=4)
        started.append(runtime)
        runtime.start(timeout=120)
        return runtime

    yield start
    for runtime in started:
        runtime.close()


def test_idle_wait_sleeps_and_rejects_bad_input(serve):
    runtime = serve("idle-wait")
    started = time.perf_counter()
    status, content_type, body = post(runtime.url + "/", b'{"wait_time": 0.3}')
    assert status == 200 and content_type.startswith("application/json")
    assert body["wait_time"] == 0.3 and 0.3 <= body["waited_seconds"] <= time.perf_counter() - started
    # No compute: four waits on four threads overlap instead of queueing.
    started = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: post(runtime.url + "/", b'{"wait_time": 0.5}'), range(4)))
    assert [status for status, _, _ in results] == [200] * 4
    assert time.perf_counter() - started < 1.9  # one after another would take at least 2 s
    status, content_type, body = post(runtime.url + "/", b'{"wait_time": 60}')
    assert status == 400 and content_type.startswith("application/json")
    assert "between 0 and 20" in body["error"]


def test_matmul_on_the_cpu_variant(serve):
    runtime = serve("matmul")
    status, _, body = post(runtime.url + "/", b'{"matrix_size": 256}')
    assert status == 200
    assert body["matrix_size"] == 256 and body["device"] == "cpu" and body["matmul_ms"] > 0
    status, _, body = post(runtime.url + "/", b'{"matrix_size": 9000}')
    assert status == 400 and "between 1 and 8192" in body["error"]
    status, _, body = post(runtime.url + "/", b"matrix_size=10")
    assert status == 400 and "body must be JSON" in body["error"]


def test_matmul_gpu_variant_without_a_gpu_falls_back_to_the_cpu_device(serve):
    # The same handler in the GPU image: with no GPU here and the fallback allowed, context.device is "cpu",
    # and the handler follows it instead of assuming CUDA.
    runtime = serve("matmul", variant="gpu", env={"GAIA_ALLOW_CPU_FALLBACK": "1"})
    info = get_json(runtime.url + "/_/gaia")
    assert info["variant"] == "gpu" and info["device"] == "cpu"
    status, _, body = post(runtime.url + "/", b'{"matrix_size": 128}')
    assert status == 200 and body["device"] == "cpu"


def test_image_classification_loads_weights_from_weights_path_in_every_worker(serve, tmp_path_factory):
    import torch
    from PIL import Image

    resnet = load_module(FUNCTIONS / "image-classification" / "resnet.py")
    # A checkpoint in torchvision's layout whose classifier always answers class 1 (goldfish).
    state_dict = resnet.ResNet18().state_dict()
    state_dict["fc.weight"] = torch.zeros(1000, 512)
    state_dict["fc.bias"] = torch.zeros(1000)
    state_dict["fc.bias"][1] = 10.0
    weights = tmp_path_factory.mktemp("weights") / "resnet18-goldfish.pth"
    torch.save(state_dict, weights)
    runtime = serve("image-classification", env={"WEIGHTS_PATH": str(weights)}, workers=2)

    buffer = io.BytesIO()
    Image.new("RGB", (320, 200), (30, 90, 200)).save(buffer, format="JPEG")
    request = json.dumps({"image": base64.b64encode(buffer.getvalue()).decode()}).encode()
    # Several calls, so that both workers answer at least once with high probability; each must have the weights.
    for _ in range(6):
        status, _, body = post(runtime.url + "/", request)
        assert status == 200
        assert (body["class_index"], body["label"]) == (1, "goldfish")
        assert body["random_init"] is False and body["weights"] == str(weights)
    status, _, body = post(runtime.url + "/", b'{"image": "bm90IGFuIGltYWdl"}')
    assert status == 400 and "not a readable image" in body["error"]


def test_image_classification_without_weights_says_it_is_random(serve):
    from PIL import Image

    runtime = serve("image-classification")
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (0, 255, 0)).save(buffer, format="PNG")
    status, _, body = post(runtime.url + "/", json.dumps({"image": base64.b64encode(buffer.getvalue()).decode()}).encode())
    assert status == 200
    assert body["random_init"] is True and "randomly initialised" in body["note"]


def test_llm_generates_with_a_tiny_model_from_model_id(serve, tmp_path_factory):
    tiny_model = load_module(FUNCTIONS / "llm" / "tiny_model.py")
    model_dir = tiny_model.save_tiny_model(tmp_path_factory.mktemp("tiny-llama"))
    runtime = serve("llm", env={"MODEL_ID": str(model_dir)})
    status, _, body = post(runtime.url + "/", b'{"prompt": "What is the capital of Austria?", "max_new_tokens": 8}')
    assert status == 200
    assert body["model"] == str(model_dir) and body["device"] == "cpu"
    assert 1 <= body["completion_tokens"] <= 8 and body["prompt_tokens"] > 0
    # Concurrent requests share the model on the worker's threads; greedy decoding makes each answer checkable.
    prompts = [f"Question {i}: which device is faster?" for i in range(4)]
    requests = [json.dumps({"prompt": prompt, "max_new_tokens": 6}).encode() for prompt in prompts]
    sequential = [post(runtime.url + "/", request)[2]["completion"] for request in requests]
    with ThreadPoolExecutor(4) as pool:
        concurrent = [result[2]["completion"] for result in pool.map(lambda r: post(runtime.url + "/", r), requests * 2)]
    assert concurrent == sequential * 2
    status, _, body = post(runtime.url + "/", b'{"prompt": "hi", "max_new_tokens": 1000}')
    assert status == 400 and "between 1 and 256" in body["error"]
    status, _, body = post(runtime.url + "/", b'{"max_new_tokens": 10}')
    assert status == 400 and 'missing field "prompt"' in body["error"]
