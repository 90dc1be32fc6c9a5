"""Run a set of child processes as one unit: start, watch, and stop them all, leaving nothing behind.

Each child runs in its own session (so its own process group): a Ctrl-C in the terminal reaches only the
supervising process, which then stops the children in reverse start order, and a signal sent to a child's
group also reaches the grandchildren it forked (gunicorn workers). Output goes to one log file per child,
never to a pipe nobody reads (a full pipe blocks the child), and the log's tail explains a child's death.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from gaia_faas.processes import signal_group, spawn


def tail(path: Path, lines: int = 20, max_bytes: int = 64 * 1024) -> str:
    """The last ``lines`` lines of a log file ('' when it does not exist)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - max_bytes))
            data = handle.read()
    except FileNotFoundError:
        return ""
    return "\n".join(data.decode(errors="replace").splitlines()[-lines:])


@dataclass
class Child:
    name: str
    argv: list[str]
    log_path: Path
    popen: subprocess.Popen = field(repr=False)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def running(self) -> bool:
        return exit_status(self.pid) is None

    def log_tail(self, lines: int = 20) -> str:
        return tail(self.log_path, lines)


def exit_status(pid: int) -> int | None:
    """The exit status of child ``pid`` if it has exited, else None.

    The child is left unreaped (a zombie) so that its pid, which is also its process group id, cannot be
    reused before `stop_one` has signalled the group: on a busy machine pids come round again quickly.
    """
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return 255  # reaped by someone else: gone, with a status nobody can tell any more
    if info is None:
        return None
    return -info.si_status if info.si_code in (os.CLD_KILLED, os.CLD_DUMPED) else info.si_status


class ChildExited(RuntimeError):
    """A child stopped while the supervisor still needed it."""

    def __init__(self, child: Child, status: int):
        self.child = child
        self.status = status
        what = f"was killed by signal {-status}" if status < 0 else f"exited with code {status}"
        super().__init__(f"{child.name} {what}")


class Supervisor:
    """Owns every process it starts; ``stop_all`` ends them (and their process groups) in reverse order."""

    def __init__(self, log_dir: Path):
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.children: list[Child] = []

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> Child:
        log_path = self.log_dir / f"{name}.log"
        with open(log_path, "ab") as log:
            popen = spawn(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                          start_new_session=True)
        child = Child(name=name, argv=list(argv), log_path=log_path, popen=popen)
        self.children.append(child)
        return child

    def check(self) -> None:
        """Raise ``ChildExited`` for the first child that is no longer running."""
        for child in self.children:
            status = exit_status(child.pid)
            if status is not None:
                raise ChildExited(child, status)

    def stop_one(self, child: Child, timeout: float = 10.0) -> None:
        """SIGTERM the child's process group; SIGKILL it after ``timeout`` or if members outlive the leader.

        The child's pid is its process group id (it starts a session of its own).
        """
        signal_group(child.pid, signal.SIGTERM)
        try:
            child.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            signal_group(child.pid, signal.SIGKILL)
            child.popen.wait()
        # A group can outlive its leader (a worker that ignored SIGTERM): give it a moment, then kill it.
        deadline = time.monotonic() + min(timeout, 2.0)
        while _group_alive(child.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _group_alive(child.pid):
            signal_group(child.pid, signal.SIGKILL)
        if child in self.children:
            self.children.remove(child)

    def stop_all(self, timeout: float = 10.0) -> None:
        """Stop every child, newest first."""
        for child in reversed(list(self.children)):
            self.stop_one(child, timeout)


def _group_alive(pgid: int) -> bool:
    """Whether any live (non-zombie) process is in group ``pgid``.

    An orphaned zombie stays in its group until its new parent reaps it, and a container's PID 1 may never
    do that, so on Linux the group is read from /proc rather than probed with a signal.
    """
    proc = Path("/proc")
    if not (proc / "self" / "stat").exists():
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # exited meanwhile
        # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses, so split after the last ')'.
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            return True
    return False
