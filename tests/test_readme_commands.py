"""Every command of the README's command list works in a fresh clone (issue 13, items 8 and 13).

The repository's HEAD is cloned into a temporary folder with nothing beside it (no ../shared, no traces),
given a `.venv` that reuses this environment's installed packages without installing anything (what
`pip install -e .` writes: a path to the packages, the editable finder pointed at the clone, the `gaia`
script), and each command of the list runs there as written, with `.venv/bin/gaia`. Only what a test must
change is changed: loopback ports and URLs instead of 8080 and cluster host names, short durations. Each
command must end 0, or fail with the one line it promises (a single stderr line, no traceback).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest

from gaia_faas.processes import RedisServer, free_port, wait_for_http

REPO = Path(__file__).resolve().parent.parent


def readme_commands(readme: str) -> list[str]:
    """The lines of the first sh block after `## Commands`, comments and `[optional]` parts removed."""
    section = readme.split("\n## Commands", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    commands = []
    for line in block.splitlines():
        line = re.sub(r"\s+#.*$", "", line).strip()
        line = re.sub(r"\s*\[[^\]]*\]", "", line)
        if line and not line.startswith("#"):
            commands.append(line)
    return commands


def thin_venv(clone: Path) -> Path:
    """clone/.venv: this interpreter, this environment's packages by path, gaia_faas mapped to the clone."""
    venv = clone / ".venv"
    subprocess.run([getattr(sys, "_base_executable", sys.executable), "-m", "venv", "--without-pip", str(venv)],
                   check=True)
    ours = Path(sysconfig.get_paths()["purelib"])
    theirs = Path(subprocess.run([str(venv / "bin" / "python"), "-c",
                                  "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                 capture_output=True, text=True, check=True).stdout.strip())
    # A path line in a .pth adds the folder to sys.path without running its .pth files, so the editable finder
    # that maps gaia_faas to this checkout stays out; a copy of it, mapped to the clone, goes in instead.
    (theirs / "reuse.pth").write_text(f"{ours}\n")
    [finder] = ours.glob("__editable___gaia_faas_*_finder.py")
    (theirs / "__editable___gaia_clone_finder.py").write_text(finder.read_text().replace(str(REPO), str(clone)))
    (theirs / "__editable__.gaia_clone.pth").write_text(
        "import __editable___gaia_clone_finder; __editable___gaia_clone_finder.install()\n")
    script = venv / "bin" / "gaia"
    script.write_text(f"#!{venv / 'bin' / 'python'}\nimport sys\nfrom gaia_faas.cli import main\nsys.exit(main())\n")
    script.chmod(0o755)
    return venv


class Run:
    """One command in the clone, its output in files (a long-running one never blocks on a full pipe)."""

    def __init__(self, argv: list[str], clone: Path, env: dict):
        self.argv = argv
        logs = clone.parent / "logs"
        logs.mkdir(exist_ok=True)
        index = len(list(logs.iterdir()))
        self.out_path, self.err_path = logs / f"{index}-{argv[1]}.out", logs / f"{index}-{argv[1]}.err"
        with open(self.out_path, "w") as out, open(self.err_path, "w") as err:
            self.proc = subprocess.Popen(argv, cwd=clone, env=env, stdout=out, stderr=err, start_new_session=True)

    def output(self) -> tuple[str, str]:
        return self.out_path.read_text(), self.err_path.read_text()

    def finish(self, timeout: float) -> tuple[int, str, str]:
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            raise AssertionError(f"{shlex.join(self.argv)} did not finish within {timeout:.0f}s:\n{self.output()}")
        return (self.proc.returncode, *self.output())

    def stop(self, signum: int, timeout: float = 60) -> tuple[int, str, str]:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signum)
        return self.finish(timeout)

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            if text in self.output()[0]:
                return
            time.sleep(0.2)
        raise AssertionError(f"no {text!r} from {shlex.join(self.argv)}:\n{self.output()}")


def assert_ok_or_one_line(argv: list[str], status: int, out: str, err: str) -> None:
    if status == 0:
        return
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, f"{shlex.join(argv)} ended {status}:\n{out}\n{err}"


@pytest.mark.timeout(420)
def test_every_readme_command_works_in_a_fresh_clone(tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
    assert not (tmp_path / "shared").exists() and not (clone / "template").is_symlink()
    venv = thin_venv(clone)
    commands = readme_commands((clone / "README.md").read_text())
    assert all(command.startswith(".venv/bin/gaia ") for command in commands), commands  # item 13: no bare `gaia`
    names = [shlex.split(command)[1] for command in commands]
    assert {"classify", "stack", "gateway", "status", "replay", "local-run", "demo"} <= set(names)

    env = {k: v for k, v in os.environ.items() if k not in ("GAIA_TRACES", "VIRTUAL_ENV", "PYTHONPATH")}
    env.update(HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"), MPLBACKEND="Agg",
               PATH=f"{venv / 'bin'}:{env.get('PATH', '')}")
    redis = RedisServer().start()
    gateway: Run | None = None
    gateway_port = free_port()
    try:
        for command in commands:
            argv = shlex.split(command)
            name = argv[1]
            if name == "gateway":
                # In the cluster it talks to gateway.openfaas and redis; here to loopback (nothing on the upstream).
                argv = [a.replace("http://gateway.openfaas:8080", f"http://127.0.0.1:{free_port()}")
                        .replace("redis://redis:6379/0", redis.url) for a in argv]
                gateway = Run(argv + ["--bind", f"127.0.0.1:{gateway_port}", "--workers", "1"], clone, env)
                # Alive, not ready: with nothing on the upstream no discovery succeeds (health answers 503).
                wait_for_http(f"http://127.0.0.1:{gateway_port}/gaia/v1/alive", timeout=60, proc=gateway.proc)
                continue
            if name == "status":
                argv = [a.replace("http://127.0.0.1:8080", f"http://127.0.0.1:{gateway_port}") for a in argv]
            if name == "local-run":
                run = Run(argv + ["--port", str(free_port())], clone, env)
                run.wait_for("ready (Ctrl-C stops everything)", timeout=180)
                status, out, err = run.stop(signal.SIGINT)
                assert status == 0 and "SIGINT received, stopping" in out, (out, err)
                continue
            if name == "demo":  # 12 s: idle-wait's promotion (about 5 s in) and demotion (about 9 s) fit
                argv += ["--duration", "12", "--port", str(free_port()), "--plot", str(tmp_path / "demo.png"), "--json"]
            status, out, err = Run(argv, clone, env).finish(timeout=240)
            if name == "replay":  # its workloads are in the repository: it must work, not explain
                assert status == 0, err
            assert_ok_or_one_line(argv, status, out, err)
            if name == "demo":
                assert status == 0, err
                check_demo_output(out, tmp_path / "demo.png")
        assert gateway is not None
        status, out, err = gateway.stop(signal.SIGTERM)
        assert status == 0, err[-3000:]
        gateway = None
        # Commands that rewrite tracked files (gaia stack -o stack.yml) leave the clone as it was committed.
        # Their outputs are ignored by .gitignore, so the clone shows nothing new either (.venv included).
        changed = subprocess.run(["git", "status", "--porcelain"], cwd=clone,
                                 capture_output=True, text=True, check=True).stdout
        assert changed == "", changed
    finally:
        if gateway is not None:
            gateway.stop(signal.SIGKILL)
        redis.close()


def check_demo_output(out: str, plot: Path) -> None:
    """What `gaia demo` promises a newcomer (README, docs/local-run.md): decisions in words with their numbers,
    progress with the route, a summary with SLO, violations and cost in dollars, the plot, the JSON line."""
    assert "No CUDA device here" in out or "device cuda" in out
    assert "llm: not driven" in out
    assert "DECISION idle-wait: route cpu -> gpu, because the CPU variant kept missing the SLO" in out
    assert "decided on: SLO p95 under 1000 ms; cpu: p95 " in out
    assert ", route " in out and "over SLO" in out and "cost USD" in out
    assert out.index("gaia demo: stopped") < out.index("timeline plot:")
    summary = json.loads(out.strip().splitlines()[-1])
    assert set(summary) == {"matmul", "idle-wait", "image-classification"}
    idle = summary["idle-wait"]
    assert idle["errors"] == 0 and idle["requests"] > 10 and idle["decisions"] >= 1
    assert idle["variant_seconds"]["gpu"] > 0 and idle["over_slo"] == 1.0 and idle["slo_ms"] == 1000
    assert plot.read_bytes()[:4] == b"\x89PNG"


def test_the_command_list_parser_drops_comments_and_optional_parts():
    readme = "x\n## Commands\n\n```sh\n.venv/bin/gaia demo [--duration 120]   # drive it\n\n# note\n.venv/bin/gaia status\n```\n"
    assert readme_commands(readme) == [".venv/bin/gaia demo", ".venv/bin/gaia status"]
