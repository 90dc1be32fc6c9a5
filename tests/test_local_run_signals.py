"""A local run ends with its parent however the parent ends (issue 13, item 11).

Real `gaia local-run` processes with a real runtime (a one-line handler, so each run takes seconds):
- SIGHUP (the terminal closed) stops everything and removes the run's temporary folder, like SIGTERM;
- SIGKILL of local-run itself (no cleanup can run) still takes Redis, the gateway plugin and the runtimes
  with it: Linux's PR_SET_PDEATHSIG, which fires when the *thread* that forked a child ends, so every
  child is forked from one thread that lives as long as the process (gaia_faas.processes.spawn);
- a child forked from a short-lived thread through spawn() is not signalled when that thread ends.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from gaia_faas.processes import free_port
from tests.test_local_run_e2e import LocalRunProcess, _gone, _one_function_stack, assert_nothing_left


def _started(tmp_path: Path) -> tuple[LocalRunProcess, Path]:
    stack = _one_function_stack(tmp_path, "def handle(event, context):\n    return 'ok'\n")
    run = LocalRunProcess("--stack", str(stack), "--port", str(free_port()))
    redis_line = run.wait_for("redis    ", timeout=60)
    run_dir = Path(re.search(r"data in (\S+)\)", redis_line).group(1)).parent
    run.wait_for("gaia local-run: ready", timeout=90)
    return run, run_dir


@pytest.mark.timeout(120)
def test_sighup_stops_everything_and_removes_the_temporary_folder(tmp_path):
    run, run_dir = _started(tmp_path)
    try:
        processes, ports = run.tree()
        assert run_dir.is_dir() and len(processes) >= 4  # local-run, redis, the runtime, the gateway
        os.kill(run.proc.pid, signal.SIGHUP)
        output = run.output_until_exit(timeout=60)
        assert run.proc.returncode == 0, output
        assert "SIGHUP received, stopping" in output and "gaia local-run: stopped" in output
        assert_nothing_left(processes, ports)
        assert not run_dir.exists()
    finally:
        run.kill()


@pytest.mark.timeout(120)
def test_sigkill_of_local_run_takes_every_child_with_it(tmp_path):
    run, _ = _started(tmp_path)
    try:
        processes, ports = run.tree()
        children = [p for p in processes if p.pid != run.proc.pid]
        assert len(children) >= 3 and ports
        os.kill(run.proc.pid, signal.SIGKILL)  # only local-run itself, not its process group
        run.proc.wait(timeout=10)
        assert_nothing_left(children, ports)
    finally:
        run.kill()


def test_a_child_spawned_from_a_thread_that_ended_lives_until_its_parent_dies(tmp_path):
    script = textwrap.dedent(
        """
        import sys, threading, time
        from gaia_faas.processes import spawn
        started = []
        starter = threading.Thread(target=lambda: started.append(spawn([sys.executable, "-c", "import time; time.sleep(300)"])))
        starter.start()
        starter.join()
        time.sleep(1.0)  # the starter thread is gone; a child tied to it would have been signalled by now
        print(started[0].pid, started[0].poll(), flush=True)
        time.sleep(300)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                              cwd=Path(__file__).resolve().parent.parent)
    try:
        pid_text, status = parent.stdout.readline().split()
        child_pid = int(pid_text)
        assert status == "None"  # still running after its starter thread ended
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 10
        while not _gone_pid(child_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _gone_pid(child_pid)
    finally:
        parent.kill()
        parent.stdout.close()


def _gone_pid(pid: int) -> bool:
    import psutil

    try:
        return _gone(psutil.Process(pid))
    except psutil.NoSuchProcess:
        return True

