"""The gaia-python runtime (templates/gaia-python/index.py) under real gunicorn, over HTTP on loopback."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request

import psutil
import pytest

from gaia_faas.runtime_process import BuildContextError, RuntimeProcess, assemble_build_context

HANDLER = '''
import os
import time


def init(context):
    gate = os.environ.get("INIT_GATE")
    while gate and not os.path.exists(gate):
        time.sleep(0.02)
    if os.environ.get("INIT_FAILS"):
        raise RuntimeError("model file missing")
    with open(os.environ["INIT_LOG"], "a") as log:
        log.write(f"{os.getpid()} {context.device} {context.variant}\\n")


def handle(event, context):
    if event.path == "/json":
        return {
            "statusCode": 201,
            "body": {"got": event.body.decode(), "x": event.query.get("x"), "xs": event.query.getlist("x")},
            "headers": {"X-Handler": "yes"},
        }
    if event.path == "/string":
        return "plain text"
    if event.path == "/raise":
        raise ValueError("boom")
    if event.path == "/bytes":
        return {"body": b"\\x00\\xff", "headers": {"Content-Type": "image/png"}}
    if event.path == "/echo-headers":
        return {"body": {"custom": event.headers.get("x-custom"), "method": event.method}}
    if event.path == "/none":
        return None
    if event.path == "/bad-status":
        return {"statusCode": "not a number", "body": "x"}
    if event.path == "/slow":
        # Counts handler calls running at once in this worker, via a file per call.
        marker = os.path.join(os.environ["SLOTS_DIR"], str(time.monotonic_ns()))
        open(marker, "w").close()
        peak = len(os.listdir(os.environ["SLOTS_DIR"]))
        time.sleep(0.3)
        os.remove(marker)
        return {"body": {"peak": peak}}
    if event.path == "/pid":
        return {"body": {"pid": os.getpid(), "device": context.device}}
    return {"body": {"path": event.path}}
'''


def request(url, data=None, headers=None, method=None, timeout=10):
    """(status, headers, body bytes); HTTP errors are answers too."""
    req = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


@pytest.fixture(scope="module")
def context_dir(tmp_path_factory):
    handler = tmp_path_factory.mktemp("handler")
    (handler / "handler.py").write_text(HANDLER)
    (handler / "requirements.txt").write_text("")
    return assemble_build_context(handler, tmp_path_factory.mktemp("ctx") / "build")


@pytest.fixture(scope="module")
def runtime(context_dir, tmp_path_factory):
    init_log = tmp_path_factory.mktemp("init") / "init.log"
    with RuntimeProcess(context_dir, workers=2, threads=2, env={"INIT_LOG": str(init_log)}) as proc:
        proc.init_log = init_log
        yield proc


def worker_pids(proc):
    return sorted(child.pid for child in psutil.Process(proc.pid).children())


def test_json_body_status_headers_and_query(runtime):
    status, headers, body = request(runtime.url + "/json?x=1&x=2", data=b"payload", method="POST")
    assert status == 201
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Handler"] == "yes"
    assert json.loads(body) == {"got": "payload", "x": "1", "xs": ["1", "2"]}


def test_string_return_is_a_200_text_body(runtime):
    status, headers, body = request(runtime.url + "/string")
    assert (status, body) == (200, b"plain text")
    assert headers["Content-Type"].startswith("text/html")


def test_none_is_an_empty_200_and_bytes_pass_through_raw(runtime):
    assert request(runtime.url + "/none")[::2] == (200, b"")
    status, headers, body = request(runtime.url + "/bytes")
    assert (status, body, headers["Content-Type"]) == (200, b"\x00\xff", "image/png")


def test_request_headers_and_method_reach_the_handler(runtime):
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        status, _, body = request(runtime.url + "/echo-headers", headers={"X-Custom": "v1"}, method=method)
        assert status == 200
        assert json.loads(body) == {"custom": "v1", "method": method}


def test_handler_exception_is_a_500_json_error_logged_and_workers_survive(runtime):
    before = worker_pids(runtime)
    for _ in range(6):  # enough to reach both workers
        status, headers, body = request(runtime.url + "/raise")
        assert status == 500
        assert headers["Content-Type"] == "application/json"
        assert json.loads(body) == {"error": "ValueError: boom"}
    assert request(runtime.url + "/json")[0] == 201
    assert worker_pids(runtime) == before
    log = runtime.log_path.read_text()
    assert "handler failed on GET /raise" in log and "ValueError: boom" in log


def test_invalid_handler_return_is_a_500_not_a_crash(runtime):
    status, _, body = request(runtime.url + "/bad-status")
    assert status == 500
    assert json.loads(body) == {"error": "ValueError: statusCode must be an HTTP status code (100-599), got 'not a number'"}


def test_init_ran_once_in_every_worker_before_ready(runtime):
    lines = runtime.init_log.read_text().splitlines()
    pids = sorted(int(line.split()[0]) for line in lines)
    assert pids == worker_pids(runtime)
    assert all(line.endswith("cpu cpu") for line in lines)
    seen = {json.loads(request(runtime.url + "/pid")[2])["pid"] for _ in range(40)}
    assert seen <= set(pids)


def test_info_path_reports_variant_device_versions_and_classification(runtime, context_dir):
    status, _, body = request(runtime.url + "/_/gaia")
    info = json.loads(body)
    assert status == 200
    assert (info["variant"], info["device"], info["workers"], info["threads"]) == ("cpu", "cpu", 2, 2)
    import torch

    assert info["torch"] == torch.__version__
    assert info["cuda"] == torch.version.cuda
    stored = json.loads((context_dir / "gaia-classification.json").read_text())
    assert info["classification"] == stored
    assert info["classification"]["mode"] == "cpu"


def test_health_and_ready_answer_200_once_ready(runtime):
    assert request(runtime.url + "/_/health")[::2] == (200, b"OK")
    assert request(runtime.url + "/_/ready")[0] == 200


def test_readiness_waits_for_every_workers_init(context_dir, tmp_path):
    gate = tmp_path / "gate"
    init_log = tmp_path / "init.log"
    proc = RuntimeProcess(context_dir, workers=2, env={"INIT_LOG": str(init_log), "INIT_GATE": str(gate)})
    started = threading.Event()
    errors = []

    def start():
        try:
            proc.start(timeout=30)
            started.set()
        except Exception as exc:  # reported by the assertion below
            errors.append(exc)

    thread = threading.Thread(target=start)
    thread.start()
    try:
        time.sleep(1.5)  # gunicorn is up and listening; both workers sit in init()
        assert not started.is_set() and not errors
        assert not proc.lock_path.exists()
        gate.touch()
        thread.join(timeout=30)
        assert started.is_set(), errors
        assert proc.lock_path.exists()
        assert len(init_log.read_text().splitlines()) == 2
    finally:
        gate.touch()
        thread.join(timeout=30)
        proc.close()


def test_failing_init_fails_start_with_the_error(context_dir, tmp_path):
    proc = RuntimeProcess(context_dir, workers=1, env={"INIT_LOG": str(tmp_path / "l"), "INIT_FAILS": "1"})
    with pytest.raises(RuntimeError, match="model file missing"):
        proc.start(timeout=30)
    proc.close()


def test_gpu_variant_without_gpu_fails_fast_with_a_clear_message(context_dir, tmp_path):
    proc = RuntimeProcess(context_dir, variant="gpu", env={"INIT_LOG": str(tmp_path / "l"), "GAIA_ALLOW_CPU_FALLBACK": ""})
    with pytest.raises(RuntimeError, match="no CUDA device is visible.*GAIA_ALLOW_CPU_FALLBACK=1"):
        proc.start(timeout=60)
    proc.close()


def test_gpu_variant_with_cpu_fallback_reports_what_it_really_has(context_dir, tmp_path):
    init_log = tmp_path / "init.log"
    env = {"INIT_LOG": str(init_log), "GAIA_ALLOW_CPU_FALLBACK": "1"}
    with RuntimeProcess(context_dir, variant="gpu", env=env).start(timeout=60) as proc:
        info = json.loads(request(proc.url + "/_/gaia")[2])
        assert (info["variant"], info["device"], info["workers"]) == ("gpu", "cpu", 1)
        assert init_log.read_text().split()[1:] == ["cpu", "gpu"]
        assert "GPU variant running on the CPU" in proc.log_path.read_text()


def test_bad_worker_count_is_refused_with_the_variable_name(context_dir, tmp_path):
    proc = RuntimeProcess(context_dir, env={"INIT_LOG": str(tmp_path / "l"), "GAIA_WORKERS": "many"})
    with pytest.raises(RuntimeError, match="GAIA_WORKERS must be a positive integer, got 'many'"):
        proc.start(timeout=30)
    proc.close()


def test_several_runtimes_at_once_and_stop_leaves_nothing(context_dir, tmp_path):
    env = {"INIT_LOG": str(tmp_path / "init.log")}
    first = RuntimeProcess(context_dir, workers=1, env=env).start(timeout=30)
    second = RuntimeProcess(context_dir, workers=1, env=env).start(timeout=30)
    try:
        assert first.port != second.port
        assert request(first.url + "/string")[0] == request(second.url + "/string")[0] == 200
        group = [first.pid, *worker_pids(first), second.pid, *worker_pids(second)]
        assert "Control server error" not in first.log_path.read_text() + second.log_path.read_text()
    finally:
        first.stop()
        second.stop()
    time.sleep(0.2)
    assert [pid for pid in group if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"] == []
    assert not first.lock_path.exists()  # the runtime removes its lock when it exits
    first.close()
    second.close()


def test_assemble_mirrors_faas_cli_shrinkwrap(tmp_path):
    handler = tmp_path / "fn"
    (handler / "build").mkdir(parents=True)
    (handler / "template").mkdir()
    (handler / "pkg").mkdir()
    (handler / "handler.py").write_text("def handle(event, context):\n    return 'x'\n")
    (handler / "pkg" / "model.py").write_text("WEIGHTS = 1\n")
    dest = assemble_build_context(handler, tmp_path / "out" / "fn")
    function = dest / "function"
    assert (dest / "index.py").is_file() and (dest / "Dockerfile").is_file() and (dest / "template.yml").is_file()
    assert (function / "handler.py").read_text().endswith("return 'x'\n")
    assert (function / "pkg" / "model.py").is_file()
    assert not (function / "build").exists() and not (function / "template").exists()
    # Template sample files the handler did not override stay, as with faas-cli.
    assert (function / "handler_test.py").is_file()
    assert (function / "__init__.py").is_file()
    assert json.loads((dest / "gaia-classification.json").read_text())["mode"] == "cpu"


def test_assemble_records_a_declared_mode(tmp_path):
    handler = tmp_path / "fn"
    handler.mkdir()
    (handler / "handler.py").write_text("def handle(event, context):\n    return 'x'\n")
    dest = assemble_build_context(handler, tmp_path / "out", declared_mode="gpu_preferred")
    stored = json.loads((dest / "gaia-classification.json").read_text())
    assert stored["mode"] == "gpu_preferred" and stored["declared"] is True


def test_assemble_refuses_a_missing_handler_folder(tmp_path):
    with pytest.raises(BuildContextError, match="handler folder .*nope does not exist"):
        assemble_build_context(tmp_path / "nope", tmp_path / "out")


def test_start_refuses_a_folder_that_is_no_build_context(tmp_path):
    with pytest.raises(BuildContextError, match="no gaia-python build context"):
        RuntimeProcess(tmp_path).start()


def test_sizing_is_not_inherited_from_this_process(context_dir, tmp_path, monkeypatch):
    # The gateway plugin reads GAIA_WORKERS too; a local run's setting for it must not size the functions.
    monkeypatch.setenv("GAIA_WORKERS", "3")
    with RuntimeProcess(context_dir, env={"INIT_LOG": str(tmp_path / "l")}).start(timeout=30) as proc:
        assert json.loads(request(proc.url + "/_/gaia")[2])["workers"] == 2


def test_kept_alive_connections_beyond_the_thread_count_are_not_starved(context_dir, tmp_path):
    # One thread waits on its connection's next request only while no other connection needs it; a
    # second connection must not wait for that thread's keep-alive timeout (2 s).
    import http.client

    import importlib.util

    from gaia_faas.runtime_process import TEMPLATE_DIR

    spec = importlib.util.spec_from_file_location("gaia_template_index", TEMPLATE_DIR / "index.py")
    index = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(index)
    with RuntimeProcess(context_dir, workers=1, threads=1, env={"INIT_LOG": str(tmp_path / "l")}).start(timeout=30) as proc:
        count = index.CONNECTION_THREADS + 2  # more kept-alive connections than the worker has threads
        connections = [http.client.HTTPConnection("127.0.0.1", proc.port, timeout=1.0) for _ in range(count)]
        for _ in range(2):
            for connection in connections:  # round robin: each request finds the thread held by another
                connection.request("GET", "/string")
                response = connection.getresponse()
                assert (response.status, response.read()) == (200, b"plain text")
        for connection in connections:
            connection.close()


def test_info_path_does_not_load_torch_into_a_worker_that_does_not_use_it(runtime):
    request(runtime.url + "/_/gaia")
    for worker in worker_pids(runtime):
        maps = open(f"/proc/{worker}/maps").read()
        assert "libtorch" not in maps


def test_at_most_threads_handler_calls_run_at_once_per_worker(context_dir, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    slots = tmp_path / "slots"
    slots.mkdir()
    env = {"INIT_LOG": str(tmp_path / "l"), "SLOTS_DIR": str(slots)}
    with RuntimeProcess(context_dir, workers=1, threads=2, env=env).start(timeout=30) as proc:
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: request(proc.url + "/slow", timeout=20), range(8)))
    assert all(status == 200 for status, _, _ in answers)
    peaks = [json.loads(body)["peak"] for _, _, body in answers]
    assert max(peaks) == 2  # eight connections were served at once, two handler calls ran at a time
