"""gaia-python runtime: the user's `function/handler.py` behind Flask, served by gunicorn.

of-watchdog (mode=http) starts this as `python index.py` and proxies every request to 127.0.0.1:$GAIA_PORT.
The handler contract is python3-http's `handle(event, context)`, plus `context.device` ("cuda" or "cpu",
what this variant really has) and an optional `init(context)` that each worker runs before it serves.

Readiness means "every worker finished init": only then is the lock file ($GAIA_READY_LOCK, default the
watchdog's /tmp/.lock, with `suppress_lock=true`) created, so /_/health stays 503 while models load.
"""

from __future__ import annotations

import ast
import glob
import importlib
import importlib.util
import json
import logging
import os
import select
import shutil
import sys
import tempfile
import threading
from pathlib import Path

from flask import Flask, jsonify, make_response, request
from gunicorn.app.base import BaseApplication
from gunicorn.workers.gthread import ThreadWorker

HERE = os.path.dirname(os.path.abspath(__file__))
# Written by the Dockerfile (and by gaia_faas.runtime_process.assemble_build_context) at build time.
CLASSIFICATION_FILE = os.path.join(HERE, "gaia-classification.json")
VARIANTS = ("cpu", "gpu")
# Threads per worker that serve connections; at most GAIA_THREADS of them run the handler at once. A
# connection on its own thread needs no hand-off between gunicorn's poller and its pool per request.
CONNECTION_THREADS = 32

log = logging.getLogger("gaia")


class RuntimeConfigError(Exception):
    """The environment asks for something this runtime cannot do; the message says what to change."""


def _positive_int(environ, name, default):
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise RuntimeConfigError(f"{name} must be a positive integer, got {raw!r}")
    return value


def runtime_settings(environ, gpu_ids):
    """Variant, device and gunicorn sizing from the environment and the GPUs found (pure)."""
    variant = environ.get("GAIA_VARIANT", "cpu").strip() or "cpu"
    if variant not in VARIANTS:
        raise RuntimeConfigError(f"GAIA_VARIANT must be 'cpu' or 'gpu', got {variant!r}")
    device, default_workers = "cpu", 2
    if variant == "gpu":
        if gpu_ids:
            device, default_workers = "cuda", len(gpu_ids)
        elif environ.get("GAIA_ALLOW_CPU_FALLBACK", "") not in ("1", "true"):
            raise RuntimeConfigError(
                "GPU variant started but no CUDA device is visible (no driver, or no nvidia.com/gpu "
                "assigned). Schedule it on a GPU node (docs/platforms.md), or set "
                "GAIA_ALLOW_CPU_FALLBACK=1 to run it on the CPU."
            )
        else:
            default_workers = 1
    return {
        "variant": variant,
        "device": device,
        "gpu_ids": list(gpu_ids) if device == "cuda" else [],
        "port": _positive_int(environ, "GAIA_PORT", 5000),
        "workers": _positive_int(environ, "GAIA_WORKERS", default_workers),
        "threads": _positive_int(environ, "GAIA_THREADS", 4),
        "init_timeout": _positive_int(environ, "GAIA_INIT_TIMEOUT", 600),
        "lock_path": environ.get("GAIA_READY_LOCK", "").strip() or "/tmp/.lock",
    }


def visible_gpu_ids(environ):
    """IDs of the GPUs this process may use, found without creating a CUDA context."""
    if importlib.util.find_spec("torch") is None:
        # Handlers on other GPU libraries (ONNX Runtime, CuPy): count the device nodes the container got.
        count = len(glob.glob("/dev/nvidia[0-9]*"))
    else:
        # NVML-based counting leaves CUDA uninitialised in this (pre-fork) process: CUDA does not survive fork.
        os.environ.setdefault("PYTORCH_NVML_BASED_CUDA_CHECK", "1")
        import torch

        count = torch.cuda.device_count()
    listed = [d.strip() for d in environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
    return (listed or [str(i) for i in range(count)])[:count]


def least_used_gpu(gpu_ids, taken):
    """The GPU id with the fewest workers on it (first in order on ties)."""
    return min(gpu_ids, key=lambda gpu: (taken.count(gpu), gpu_ids.index(gpu)))


class Event:
    def __init__(self):
        self.body = request.get_data()
        self.headers = request.headers
        self.method = request.method
        self.query = request.args
        self.path = request.path


class Context:
    def __init__(self, variant, device):
        self.hostname = os.getenv("HOSTNAME", "localhost")
        self.variant = variant
        self.device = device


def to_response(result):
    """python3-http's return contract; bytes bodies pass through raw and list bodies become JSON too."""
    if result is None:
        return make_response("", 200)
    if not isinstance(result, dict):
        return make_response(result)
    body = result.get("body", "")
    if isinstance(body, (dict, list)):
        body = jsonify(body)
    elif isinstance(body, (bytes, bytearray)):
        body = make_response(bytes(body))
        body.mimetype = "application/octet-stream"
    elif body is None:
        body = ""
    else:
        body = str(body)
    status = result.get("statusCode", 200)
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise ValueError(f"statusCode must be an HTTP status code (100-599), got {status!r}")
    return make_response(body, status, result.get("headers") or {})


def torch_versions():
    """(torch version, CUDA version it was built for), or (None, None) without torch."""
    torch = sys.modules.get("torch")
    if torch is not None:
        return torch.__version__, torch.version.cuda
    spec = importlib.util.find_spec("torch")
    if spec is None:
        return None, None
    # Importing torch costs seconds and hundreds of MB per worker; its generated version.py has the answer.
    constants = {}
    tree = ast.parse(Path(spec.submodule_search_locations[0], "version.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(node.value, ast.Constant):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                if isinstance(target, ast.Name):
                    constants[target.id] = node.value.value
    return constants.get("__version__"), constants.get("cuda")


def read_classification():
    try:
        with open(CLASSIFICATION_FILE, encoding="utf-8") as file:
            return json.load(file)
    except FileNotFoundError:
        return None


def create_app(settings, handler):
    """The Flask app of one worker: runs the handler's init(context), then serves it."""
    context = Context(settings["variant"], settings["device"])
    handler_slots = threading.BoundedSemaphore(settings["threads"])
    if hasattr(handler, "init"):
        handler.init(context)
    classification = read_classification()
    app = Flask(__name__)

    @app.get("/_/gaia")
    def info():
        torch_version, cuda_version = torch_versions()
        return jsonify(
            variant=settings["variant"],
            device=context.device,
            gpus=settings["gpu_ids"],
            torch=torch_version,
            cuda=cuda_version,
            classification=classification,
            workers=settings["workers"],
            threads=settings["threads"],
            ready=os.path.exists(settings["lock_path"]),
        )

    # The watchdog answers these itself in a container; they serve runs without a watchdog (local runs, tests)
    # and the watchdog's ready_path. Same semantics: 200 once every worker finished init.
    @app.get("/_/health")
    @app.get("/_/ready")
    def readiness():
        if os.path.exists(settings["lock_path"]):
            return "OK", 200
        return "initialising", 503

    @app.route("/", defaults={"path": ""}, methods=["GET", "PUT", "POST", "PATCH", "DELETE"])
    @app.route("/<path:path>", methods=["GET", "PUT", "POST", "PATCH", "DELETE"])
    def call_handler(path):
        try:
            event = Event()  # reads the body: a slow upload does not hold a handler slot
            with handler_slots:
                return to_response(handler.handle(event, context))
        except Exception as exc:
            log.exception("handler failed on %s %s", request.method, request.path)
            return jsonify(error=f"{type(exc).__name__}: {exc}"), 500

    return app


class LingeringThreadWorker(ThreadWorker):
    """gunicorn's gthread worker, keeping a kept-alive connection on its thread while threads are spare.

    Stock gthread hands every kept-alive connection back to its poller between requests: two thread
    hand-offs per request, each a wake-up that waits for a CPU on a busy machine. While there are no more
    connections than threads nobody needs this thread, so it waits for the connection's next request
    itself. When a new connection makes threads short, a byte in the `threads_short` pipe sends every
    waiting thread's connection back to the poller.
    """

    def init_process(self):
        self.threads_short_r, self.threads_short_w = os.pipe()
        os.set_blocking(self.threads_short_r, False)
        os.set_blocking(self.threads_short_w, False)
        super().init_process()

    def signal_threads_short(self):
        try:
            os.write(self.threads_short_w, b"!")
        except BlockingIOError:
            pass  # the pipe is full: the waiting threads are woken already

    def accept(self, listener):
        super().accept(listener)
        if self.nr_conns > self.cfg.threads:
            self.signal_threads_short()

    def handle_exit(self, sig, frame):
        super().handle_exit(sig, frame)
        self.signal_threads_short()

    def finish_request(self, conn, fs):
        # Runs on the poller thread: once connections fit the threads again, let threads wait again.
        if self.nr_conns <= self.cfg.threads:
            try:
                os.read(self.threads_short_r, 4096)
            except BlockingIOError:
                pass
        super().finish_request(conn, fs)

    def handle(self, conn):
        keepalive = super().handle(conn)
        while keepalive is True and self.alive and self.nr_conns <= self.cfg.threads:
            waiter = select.poll()
            waiter.register(conn.sock, select.POLLIN)
            waiter.register(self.threads_short_r, select.POLLIN)
            ready = {fd for fd, _ in waiter.poll(self.cfg.keepalive * 1000)}
            if conn.sock.fileno() not in ready or self.threads_short_r in ready:
                break
            keepalive = super().handle(conn)
        return keepalive


class Runtime(BaseApplication):
    def __init__(self, settings):
        self.settings = settings
        self.marks_dir = None
        super().__init__()

    def load_config(self):
        s = self.settings
        for key, value in {
            "bind": [f"127.0.0.1:{s['port']}"],
            "workers": s["workers"],
            "threads": max(s["threads"], CONNECTION_THREADS),
            "worker_class": LingeringThreadWorker,
            "timeout": s["init_timeout"],
            "control_socket_disable": True,
            "on_starting": self.on_starting,
            "pre_fork": self.pre_fork,
            "post_fork": self.post_fork,
            "post_worker_init": self.post_worker_init,
            "child_exit": self.child_exit,
            "on_exit": self.on_exit,
        }.items():
            self.cfg.set(key, value)

    def load(self):
        # Runs in each worker after fork (no preload): the handler and its models live in the worker.
        return create_app(self.settings, importlib.import_module("function.handler"))

    def on_starting(self, server):
        # A lock left by an earlier run must not announce readiness for this one.
        if os.path.exists(self.settings["lock_path"]):
            os.remove(self.settings["lock_path"])
        self.marks_dir = tempfile.mkdtemp(prefix="gaia-ready-")

    def pre_fork(self, server, worker):
        if self.settings["gpu_ids"]:
            taken = [getattr(w, "gaia_gpu", None) for w in server.WORKERS.values()]
            worker.gaia_gpu = least_used_gpu(self.settings["gpu_ids"], taken)

    def post_fork(self, server, worker):
        if self.settings["gpu_ids"]:
            os.environ["CUDA_VISIBLE_DEVICES"] = worker.gaia_gpu

    def post_worker_init(self, worker):
        open(os.path.join(self.marks_dir, str(worker.pid)), "w").close()
        if len(os.listdir(self.marks_dir)) < self.settings["workers"]:
            return
        try:
            # O_EXCL: when the last two workers finish together, one of them announces readiness.
            os.close(os.open(self.settings["lock_path"], os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return
        log.info(
            "ready: %d worker(s) x %d thread(s), variant %s, device %s",
            self.settings["workers"], self.settings["threads"], self.settings["variant"], self.settings["device"],
        )

    def child_exit(self, server, worker):
        mark = os.path.join(self.marks_dir, str(worker.pid))
        if os.path.exists(mark):
            os.remove(mark)

    def on_exit(self, server):
        if os.path.exists(self.settings["lock_path"]):
            os.remove(self.settings["lock_path"])
        shutil.rmtree(self.marks_dir, ignore_errors=True)


def main():
    logging.basicConfig(level=logging.INFO, format="[gaia] %(levelname)s %(message)s", stream=sys.stderr)
    try:
        gpu_ids = visible_gpu_ids(os.environ) if os.environ.get("GAIA_VARIANT", "").strip() == "gpu" else []
        settings = runtime_settings(os.environ, gpu_ids)
    except RuntimeConfigError as exc:
        print(f"gaia-python runtime: {exc}", file=sys.stderr)
        return 2
    if settings["variant"] == "gpu" and settings["device"] == "cpu":
        log.warning("GPU variant running on the CPU (GAIA_ALLOW_CPU_FALLBACK=1)")
    Runtime(settings).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
