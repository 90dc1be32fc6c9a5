"""`gaia local-run` as a real subprocess: the reference stack behind the plugin and controller, then SIGTERM.

Also its failures: a port in use, a broken handler, a child dying under it. Each run must leave no process
and no listening port behind.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest

from gaia_faas.processes import free_port, port_is_open

REPO = Path(__file__).resolve().parent.parent


class LocalRunProcess:
    """`gaia local-run ...` in its own session, its output collected line by line."""

    def __init__(self, *args: str, cwd: Path = REPO):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gaia_faas.cli", "local-run", *args],
            cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, text: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            if line is None:
                break
            self.lines.append(line)
            if text in line:
                return line
        raise AssertionError(f"no {text!r} in the output of local-run:\n" + "\n".join(self.lines))

    def output_until_exit(self, timeout: float) -> str:
        self.proc.wait(timeout=timeout)
        while (line := self._queue.get(timeout=5)) is not None:
            self.lines.append(line)
        return "\n".join(self.lines)

    def tree(self) -> tuple[list[psutil.Process], set[int]]:
        """Every process under local-run and every TCP port they listen on."""
        processes = [psutil.Process(self.proc.pid), *psutil.Process(self.proc.pid).children(recursive=True)]
        ports = set()
        for process in processes:
            try:
                ports |= {c.laddr.port for c in process.net_connections(kind="tcp") if c.status == psutil.CONN_LISTEN}
            except psutil.NoSuchProcess:
                pass
        return processes, ports

    def watch_until_exit(self, timeout: float) -> tuple[list[psutil.Process], set[int]]:
        """Every process and listening port seen under local-run until it exits (it starts and stops them)."""
        seen: dict[int, psutil.Process] = {}
        ports: set[int] = set()
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            try:
                processes, listening = self.tree()
            except psutil.NoSuchProcess:
                break
            seen.update({p.pid: p for p in processes})
            ports |= listening
            time.sleep(0.1)
        self.output_until_exit(timeout=max(1.0, deadline - time.monotonic()))
        return list(seen.values()), ports

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def _gone(process: psutil.Process) -> bool:
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def assert_nothing_left(processes: list[psutil.Process], ports: set[int]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not all(_gone(p) for p in processes):
        time.sleep(0.1)
    assert [p.pid for p in processes if not _gone(p)] == []
    assert [port for port in ports if port_is_open(port)] == []


def post(url: str, body: dict, timeout: float = 30) -> tuple[int, str]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
            return response.status, response.headers.get("X-Gaia-Variant", "")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")
    except OSError as exc:
        return 0, str(exc)


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


@pytest.mark.timeout(240)
def test_reference_stack_runs_decides_and_stops_cleanly():
    port = free_port()
    run = LocalRunProcess("--functions", "idle-wait,matmul", "--port", str(port))
    try:
        run.wait_for("gaia local-run: ready", timeout=180)
        processes, ports = run.tree()
        assert port in ports and len(ports) >= 6  # plugin, redis, four runtimes
        gateway = f"http://127.0.0.1:{port}"

        # idle-wait's SLO is 1 s and every call takes 1.5 s: the controller tries the GPU variant, finds it
        # no faster and comes back. matmul with small sizes meets its SLO and stays.
        results: list[tuple[str, int, str]] = []
        stop = threading.Event()

        def client(function: str, body: dict) -> None:
            while not stop.is_set():
                status, detail = post(f"{gateway}/function/{function}", body)
                results.append((function, status, detail))

        with ThreadPoolExecutor(5) as pool:
            for _ in range(4):
                pool.submit(client, "idle-wait", {"wait_time": 1.5})
            pool.submit(client, "matmul", {"matrix_size": 128})
            deadline = time.monotonic() + 60
            decisions = []
            while time.monotonic() < deadline:
                time.sleep(1)
                decisions = get_json(f"{gateway}/gaia/v1/decisions")["decisions"]
                if any(d["function"] == "idle-wait" and d.get("to") == "cpu" for d in decisions):
                    break
            stop.set()
        idle_moves = [(d["from"], d["to"]) for d in decisions if d["function"] == "idle-wait" and d["from"] != d["to"]]
        assert ("cpu", "gpu") in idle_moves and ("gpu", "cpu") in idle_moves, decisions
        assert not any(d["function"] == "matmul" and d["from"] != d["to"] for d in decisions), decisions
        failures = [r for r in results if r[1] != 200]
        assert failures == [] and len(results) > 20
        assert {variant for function, _, variant in results if function == "idle-wait"} == {"cpu", "gpu"}

        processes, ports = run.tree()
        os.kill(run.proc.pid, signal.SIGTERM)
        output = run.output_until_exit(timeout=60)
        assert run.proc.returncode == 0, output
        assert "SIGTERM received, stopping" in output and "gaia local-run: stopped" in output
        assert_nothing_left(processes, ports)
    finally:
        run.kill()


BROKEN_HANDLER = "def init(context):\n    raise RuntimeError('model file weights.bin is missing')\n\ndef handle(event, context):\n    return 'never'\n"


def _one_function_stack(tmp_path: Path, handler_source: str) -> Path:
    folder = tmp_path / "fn"
    folder.mkdir()
    (folder / "handler.py").write_text(handler_source)
    (tmp_path / "stack.yml").write_text(
        "version: '1.0'\nprovider: {name: openfaas}\nfunctions:\n"
        "  fn:\n    lang: gaia-python\n    handler: ./fn\n    image: fn:latest\n"
        "    annotations: {com.gaia.mode: cpu}\n"
    )
    return tmp_path / "stack.yml"


@pytest.mark.timeout(120)
def test_a_broken_handler_is_reported_with_its_output_and_nothing_is_left(tmp_path):
    stack = _one_function_stack(tmp_path, BROKEN_HANDLER)
    run = LocalRunProcess("--stack", str(stack), "--port", str(free_port()))
    try:
        processes, ports = run.watch_until_exit(timeout=90)
        output = "\n".join(run.lines)
        assert run.proc.returncode == 1
        assert "fn-cpu (" in output and "failed to start: RuntimeError: model file weights.bin is missing" in output
        assert "Worker failed to boot" in output  # the runtime's own output follows the headline
        assert "gaia_faas/local_run.py" not in output  # no traceback of local-run itself
        assert len(processes) > 3  # redis and the runtime's gunicorn were seen, and must be gone
        assert_nothing_left(processes, ports)
    finally:
        run.kill()


@pytest.mark.timeout(120)
def test_a_syntax_error_in_the_handler_is_reported(tmp_path):
    stack = _one_function_stack(tmp_path, "def handle(event, context)\n    return 'x'\n")
    run = LocalRunProcess("--stack", str(stack), "--port", str(free_port()))
    try:
        output = run.output_until_exit(timeout=90)
        assert run.proc.returncode == 1
        assert "failed to start: SyntaxError: expected ':'" in output
    finally:
        run.kill()


def test_a_port_in_use_stops_before_anything_starts(tmp_path):
    import socket

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        run = LocalRunProcess("--functions", "idle-wait", "--port", str(port))
        try:
            output = run.output_until_exit(timeout=60)
        finally:
            run.kill()
    assert run.proc.returncode == 1
    assert f"port {port} on 127.0.0.1 is already in use" in output and "--port" in output
    assert "redis" not in output.split("already in use")[0]


def test_a_missing_function_folder_and_an_unknown_function_are_named(tmp_path):
    (tmp_path / "stack.yml").write_text(
        "version: '1.0'\nprovider: {name: openfaas}\nfunctions:\n"
        "  fn:\n    lang: gaia-python\n    handler: ./nowhere\n    image: fn:latest\n"
    )
    run = LocalRunProcess("--stack", str(tmp_path / "stack.yml"))
    output = run.output_until_exit(timeout=60)
    assert run.proc.returncode == 2 and "functions.fn.handler: folder ./nowhere not found" in output
    run = LocalRunProcess("--functions", "matmul,nope")
    output = run.output_until_exit(timeout=60)
    assert run.proc.returncode == 2 and "no function nope in the stack" in output
    run = LocalRunProcess("--port", "70000")
    output = run.output_until_exit(timeout=60)
    assert run.proc.returncode == 2 and "--port must be between 1 and 65535, got 70000" in output


@pytest.mark.timeout(120)
def test_a_runtime_dying_stops_everything_with_a_message(tmp_path):
    stack = _one_function_stack(tmp_path, "def handle(event, context):\n    return 'ok'\n")
    run = LocalRunProcess("--stack", str(stack), "--port", str(free_port()))
    try:
        line = run.wait_for("ready    fn-cpu", timeout=90)
        runtime_url = line.split()[2]
        run.wait_for("gaia local-run: ready", timeout=60)
        processes, ports = run.tree()
        runtime_port = int(runtime_url.rsplit(":", 1)[1])
        [runtime] = [p for p in processes if runtime_port in {c.laddr.port for c in p.net_connections(kind="tcp")} and p.ppid() == run.proc.pid]
        os.killpg(runtime.pid, signal.SIGKILL)
        output = run.output_until_exit(timeout=60)
        assert run.proc.returncode == 1
        assert "fn-cpu was killed by signal 9 unexpectedly" in output
        assert_nothing_left(processes, ports)
    finally:
        run.kill()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_while_runtimes_are_still_loading_leaves_nothing(tmp_path, signum):
    run = LocalRunProcess("--functions", "matmul", "--port", str(free_port()))
    try:
        run.wait_for("starting matmul-gpu", timeout=60)
        time.sleep(1.0)  # both runtimes forked, torch still importing
        processes, ports = run.tree()
        assert len(processes) >= 4  # local-run, redis, two runtimes (and maybe their workers)
        assert "ready    matmul" not in "\n".join(run.lines)
        os.kill(run.proc.pid, signum)
        output = run.output_until_exit(timeout=60)
        assert run.proc.returncode == 0, output
        assert f"{signal.Signals(signum).name} received, stopping" in output
        assert_nothing_left(processes, ports)
    finally:
        run.kill()


@pytest.mark.timeout(120)
def test_a_given_redis_and_env_overrides_are_used_and_redis_is_left_running(tmp_path, redis_url, redis_server):
    import redis

    stack = _one_function_stack(tmp_path, "import os\n\ndef handle(event, context):\n    return os.environ['GREETING']\n")
    port = free_port()
    run = LocalRunProcess("--stack", str(stack), "--port", str(port), "--redis-url", redis_url, "--env", "GREETING=hi")
    try:
        run.wait_for("gaia local-run: ready", timeout=90)
        assert f"redis    {redis_url} (given)" in run.lines
        with urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/function/fn", data=b"{}")) as answer:
            assert answer.read() == b"hi" and answer.headers["X-Gaia-Variant"] == "cpu"
        client = redis.Redis.from_url(redis_url)
        deadline = time.monotonic() + 10
        while not client.keys("gaia:*") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert client.keys("gaia:*")  # the plugin records into the given Redis
        os.kill(run.proc.pid, signal.SIGTERM)
        run.output_until_exit(timeout=60)
        assert run.proc.returncode == 0
        assert client.ping()  # not ours to stop
    finally:
        run.kill()


def test_an_unreachable_redis_is_named(tmp_path):
    stack = _one_function_stack(tmp_path, "def handle(event, context):\n    return 'ok'\n")
    url = f"redis://127.0.0.1:{free_port()}/0"
    run = LocalRunProcess("--stack", str(stack), "--port", str(free_port()), "--redis-url", url)
    output = run.output_until_exit(timeout=60)
    assert run.proc.returncode == 1 and f"Redis at {url} does not answer" in output
