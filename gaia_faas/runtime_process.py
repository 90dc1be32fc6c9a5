"""Run a gaia-python function on this machine, without Docker or of-watchdog.

`assemble_build_context` lays out what `faas-cli build --shrinkwrap` would (the template folder, the
handler in `function/`) plus what the Docker build leaves that matters at run time (the classification
JSON). `RuntimeProcess` starts that context's real runtime (`python index.py`, i.e. gunicorn) on a
loopback port and returns once every worker has run the handler's `init`.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gaia_faas.processes import free_port, signal_group, spawn

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates" / "gaia-python"
HANDLER_FOLDER = "function"
CLASSIFICATION_FILE = "gaia-classification.json"
# Entries faas-cli never copies from a handler folder into the build context.
SKIPPED_HANDLER_ENTRIES = {"build", "template"}
STDERR_TAIL_LINES = 40
INHERITED_SIZING = {"GAIA_WORKERS", "GAIA_THREADS"}


class BuildContextError(Exception):
    """The build context cannot be assembled; the message names the folder or step at fault."""


def assemble_build_context(handler_dir, dest_dir, *, declared_mode=None, template_dir=None) -> Path:
    """Copy the template, then the handler into ``function/``, then classify it. Returns ``dest_dir``.

    ``dest_dir`` is emptied first, as faas-cli does with ``build/<fn>``.
    """
    handler = Path(handler_dir).resolve()
    dest = Path(dest_dir).resolve()
    template = Path(template_dir).resolve() if template_dir else TEMPLATE_DIR
    if not handler.is_dir():
        raise BuildContextError(f"handler folder {handler_dir} does not exist or is not a folder")
    if not (template / "index.py").is_file():
        raise BuildContextError(f"no gaia-python template at {template} (index.py missing)")
    if dest == handler or handler.is_relative_to(dest):
        raise BuildContextError(f"build context {dest_dir} would contain the handler folder {handler_dir}")
    if dest.exists():
        shutil.rmtree(dest)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(template, dest, ignore=ignore)
    function_dir = dest / HANDLER_FOLDER
    function_dir.mkdir(exist_ok=True)
    for entry in sorted(handler.iterdir()):
        if entry.name in SKIPPED_HANDLER_ENTRIES or entry.name == "__pycache__":
            continue
        target = function_dir / entry.name
        if entry.is_dir():
            shutil.copytree(entry, target, ignore=ignore, dirs_exist_ok=True)
        else:
            shutil.copy2(entry, target)
    # What the Dockerfile's build step does: make function/ a package, classify it, store the JSON.
    (function_dir / "__init__.py").touch()
    build = subprocess.run(
        [sys.executable, "gaia_build.py", HANDLER_FOLDER, CLASSIFICATION_FILE, "--declared-mode", declared_mode or ""],
        cwd=dest, capture_output=True, text=True,
    )
    if build.returncode != 0:
        raise BuildContextError(f"classifying {handler_dir} failed: {build.stderr.strip() or build.stdout.strip()}")
    return dest


class RuntimeProcess:
    """The runtime of one assembled build context, as its own process group on 127.0.0.1:PORT.

    Each instance has its own readiness lock file (``GAIA_READY_LOCK``) and log file, so several can run
    on one machine at once.
    """

    def __init__(self, context_dir, *, variant="cpu", port=None, env=None, workers=None, threads=None,
                 python=sys.executable):
        self.context_dir = Path(context_dir)
        self.variant = variant
        self.port = port or free_port()
        self.python = python
        self._extra_env = dict(env or {})
        self._workers = workers
        self._threads = threads
        self._tmp = tempfile.TemporaryDirectory(prefix="gaia-runtime-")
        self.lock_path = Path(self._tmp.name) / "ready.lock"
        self.log_path = Path(self._tmp.name) / "runtime.log"
        self._proc: subprocess.Popen | None = None
        self._log = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def _environment(self) -> dict:
        # Sizing comes from the arguments (or `env`), never from this process's environment: the gateway
        # plugin reads GAIA_WORKERS too, and a local run's gateway settings must not size its functions.
        env = {k: v for k, v in os.environ.items() if k not in INHERITED_SIZING}
        env.update(GAIA_VARIANT=self.variant, GAIA_PORT=str(self.port), GAIA_READY_LOCK=str(self.lock_path))
        if self._workers is not None:
            env["GAIA_WORKERS"] = str(self._workers)
        if self._threads is not None:
            env["GAIA_THREADS"] = str(self._threads)
        env.update(self._extra_env)
        return env

    def stderr_tail(self, lines: int = STDERR_TAIL_LINES) -> str:
        """The last lines the runtime wrote (stdout and stderr share one log file)."""
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def start(self, timeout: float = 60.0) -> "RuntimeProcess":
        """Start the runtime and return once every worker has run ``init``."""
        if not (self.context_dir / "index.py").is_file():
            raise BuildContextError(f"{self.context_dir} is no gaia-python build context (index.py missing)")
        if self._proc is not None:
            raise RuntimeError(f"runtime on port {self.port} was already started")
        self._log = open(self.log_path, "wb")
        # Tied to this process: a local run killed by any signal takes its runtimes with it.
        self._proc = spawn(
            [self.python, "index.py"], cwd=self.context_dir, env=self._environment(),
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while not self.lock_path.exists():
            if self._proc.poll() is not None:
                code = self._proc.returncode
                self.stop()
                raise RuntimeError(
                    f"gaia-python runtime in {self.context_dir} exited with code {code} before it was ready:\n"
                    f"{self.stderr_tail()}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(
                    f"gaia-python runtime in {self.context_dir} not ready after {timeout:.0f}s:\n{self.stderr_tail()}"
                )
            time.sleep(0.02)
        return self

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM the whole process group, SIGKILL whatever is left after ``grace`` seconds."""
        if self._proc is None:
            return
        pgid = self._proc.pid  # start_new_session: the group id is the leader's pid
        signal_group(pgid, signal.SIGTERM)
        try:
            self._proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            signal_group(pgid, signal.SIGKILL)
            self._proc.wait()
        # Workers outlive a master that was killed; nothing of this runtime may stay behind.
        signal_group(pgid, signal.SIGKILL)
        self._proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def close(self) -> None:
        self.stop()
        self._tmp.cleanup()

    def __enter__(self) -> "RuntimeProcess":
        if self._proc is None:
            self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()
