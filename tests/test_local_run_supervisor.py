import os
import signal
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

from gaia_faas.supervisor import ChildExited, Supervisor, tail

# A child that forks a grandchild (as gunicorn forks workers), prints both pids, and sleeps.
FORKING_CHILD = textwrap.dedent(
    """
    import os, sys, time
    pid = os.fork()
    if pid == 0:
        time.sleep(300)
        os._exit(0)
    print(os.getpid(), pid, flush=True)
    time.sleep(300)
    """
)


def _wait_for_pids(child, count=2, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        words = child.log_path.read_text().split()
        if len(words) >= count:
            return [int(word) for word in words[:count]]
        time.sleep(0.02)
    raise AssertionError(f"child printed no pids: {child.log_tail()!r}")


def _gone(pid):
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_stop_all_ends_children_and_their_grandchildren(tmp_path):
    supervisor = Supervisor(tmp_path)
    first = supervisor.start("first", [sys.executable, "-c", FORKING_CHILD])
    second = supervisor.start("second", [sys.executable, "-c", FORKING_CHILD])
    pids = _wait_for_pids(first) + _wait_for_pids(second)
    assert os.getpgid(first.pid) == first.pid != os.getpgid(0)
    supervisor.stop_all(timeout=5)
    assert all(_gone(pid) for pid in pids)
    assert supervisor.children == []


def test_a_child_ignoring_sigterm_is_killed_after_the_timeout(tmp_path):
    supervisor = Supervisor(tmp_path)
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(300)"
    child = supervisor.start("stubborn", [sys.executable, "-c", code])
    deadline = time.monotonic() + 10
    while "up" not in child.log_path.read_text() and time.monotonic() < deadline:
        time.sleep(0.02)
    started = time.monotonic()
    supervisor.stop_all(timeout=0.5)
    assert time.monotonic() - started < 5
    assert child.popen.returncode == -signal.SIGKILL


def test_check_reports_a_dead_child_with_its_output(tmp_path):
    supervisor = Supervisor(tmp_path)
    supervisor.start("healthy", [sys.executable, "-c", "import time; time.sleep(300)"])
    supervisor.start("broken", [sys.executable, "-c", "import sys; print('cannot load model'); sys.exit(3)"])
    deadline = time.monotonic() + 10
    with pytest.raises(ChildExited) as excinfo:
        while time.monotonic() < deadline:
            supervisor.check()
            time.sleep(0.02)
    assert excinfo.value.child.name == "broken"
    assert "exited with code 3" in str(excinfo.value)
    assert "cannot load model" in excinfo.value.child.log_tail()
    supervisor.stop_all(timeout=5)


def test_children_die_when_the_supervising_process_is_killed(tmp_path):
    # The supervisor itself is SIGKILLed (no cleanup can run): the kernel still takes its children down.
    script = textwrap.dedent(
        f"""
        import sys, time
        from gaia_faas.supervisor import Supervisor
        child = Supervisor({str(tmp_path)!r}).start("orphan", [sys.executable, "-c", "import time; time.sleep(300)"])
        print(child.pid, flush=True)
        time.sleep(300)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    child_pid = int(parent.stdout.readline())
    parent.kill()
    parent.wait()
    parent.stdout.close()
    deadline = time.monotonic() + 10
    while not _gone(child_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(child_pid)


def test_tail_returns_the_last_lines(tmp_path):
    log = tmp_path / "x.log"
    log.write_text("".join(f"line {i}\n" for i in range(100)))
    assert tail(log, 3) == "line 97\nline 98\nline 99"
    assert tail(tmp_path / "missing.log") == ""


def test_a_grandchild_that_outlives_its_parent_is_killed(tmp_path):
    code = textwrap.dedent(
        """
        import os, signal, time
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            time.sleep(300)
            os._exit(0)
        print(os.getpid(), pid, flush=True)
        time.sleep(300)
        """
    )
    supervisor = Supervisor(tmp_path)
    child = supervisor.start("leaky", [sys.executable, "-c", code])
    _, grandchild = _wait_for_pids(child)
    supervisor.stop_one(child, timeout=5)
    deadline = time.monotonic() + 5
    while not _gone(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(grandchild)
    assert supervisor.children == []


def test_a_dead_child_stays_unreaped_until_stopped_so_its_pid_cannot_be_reused(tmp_path):
    supervisor = Supervisor(tmp_path)
    child = supervisor.start("short", [sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 10
    while child.running() and time.monotonic() < deadline:
        time.sleep(0.02)
    with pytest.raises(ChildExited, match="short exited with code 0"):
        supervisor.check()
    assert psutil.Process(child.pid).status() == psutil.STATUS_ZOMBIE
    supervisor.stop_all(timeout=5)
    assert child.popen.returncode == 0 and not psutil.pid_exists(child.pid)
