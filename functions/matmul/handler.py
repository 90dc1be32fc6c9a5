"""matmul: multiply two random square float32 matrices of the requested size on this variant's device.

Small sizes are faster on a CPU (no transfer, no kernel launch); large ones on a GPU. That crossover is what
the Gaia controller discovers at run time.
"""

import json
import time

import torch

# Three float32 matrices of 8192 x 8192 take 768 MiB, which fits on any GPU and in a 2 GiB CPU replica, and the
# product takes about 7 s on 2 CPU cores: inside of-watchdog's default 30 s exec_timeout. 16384 would need 3 GiB
# and about a minute on such a CPU.
MAX_MATRIX_SIZE = 8192

device = None


class BadRequest(ValueError):
    """The request cannot be served as sent; the message tells the caller what to change."""


def parse_matrix_size(body: bytes) -> int:
    try:
        request = json.loads(body or b"")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(f"body must be JSON like {{\"matrix_size\": 1024}} ({exc})") from None
    if not isinstance(request, dict):
        raise BadRequest('body must be a JSON object like {"matrix_size": 1024}')
    if "matrix_size" not in request:
        raise BadRequest('missing field "matrix_size" (side of the square matrices, an integer)')
    size = request["matrix_size"]
    if isinstance(size, bool) or not isinstance(size, int):
        raise BadRequest(f'"matrix_size" must be an integer, got {json.dumps(size)}')
    if not 1 <= size <= MAX_MATRIX_SIZE:
        raise BadRequest(f'"matrix_size" must be between 1 and {MAX_MATRIX_SIZE}, got {size}')
    return size


def synchronize():
    # CUDA kernels run asynchronously: without waiting for them the timer would only measure the launch.
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def multiply(size: int) -> float:
    """Seconds taken by one product of two random size x size matrices (allocation not included)."""
    a = torch.rand(size, size, device=device)
    b = torch.rand(size, size, device=device)
    synchronize()
    started = time.perf_counter()
    torch.matmul(a, b)
    synchronize()
    return time.perf_counter() - started


def init(context):
    global device
    device = torch.device(context.device)
    # The first product on a device pays for its setup (the CUDA context, cuBLAS handles, CPU thread pools);
    # pay it here so the first request measures the multiplication only.
    multiply(64)


def handle(event, context):
    try:
        size = parse_matrix_size(event.body)
    except BadRequest as exc:
        return {"statusCode": 400, "body": {"error": str(exc)}}
    seconds = multiply(size)
    return {
        "statusCode": 200,
        "body": {
            "matrix_size": size,
            "device": device.type,
            "matmul_ms": seconds * 1000,
            "gflops": 2 * size**3 / seconds / 1e9 if seconds > 0 else None,
        },
    }
