"""`gaia stack --ce`: what OpenFaaS CE does with the variants never restarts or crash-loops them (issue 13, 4 and 7).

CE's rules (/work/shared/docs/ecosystem.md §3 and §5.1, read from faas-netes and of-watchdog):
- the liveness probe is the readiness check, GET /_/health, which of-watchdog answers 200 only while its lock
  file /tmp/.lock exists; chart defaults probe every 2 s with no initial delay and restart after 3 failures;
- with suppress_lock=false the watchdog writes that lock as soon as it listens; with suppress_lock=true
  (the image default) only the runtime writes it, once every worker ran init();
- CE cannot give NAME-gpu a GPU, and a GPU variant without one exits (code 2) unless GAIA_ALLOW_CPU_FALLBACK=1.

The runtimes here are real (python index.py under gunicorn, from the template), with a 9 s model load. The
watchdog is not (it is a Go binary): its part is the one line above, creating /tmp/.lock at start when
suppress_lock is false, done by the test in a folder of its own.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from gaia_faas.runtime_process import RuntimeProcess, assemble_build_context

REPO = Path(__file__).resolve().parent.parent
WATCHDOG_LOCK = "/tmp/.lock"  # of-watchdog's lock path (fixed in its code)
PROBE_PERIOD_S, FAILURE_THRESHOLD = 2.0, 3  # faas-netes chart defaults
SLOW_INIT = "import time\n\ndef init(context):\n    time.sleep(9)\n\ndef handle(event, context):\n    return 'ok'\n"


def _generated(folder: Path, *flags: str) -> dict:
    (folder / "llm").mkdir(parents=True)
    (folder / "llm" / "handler.py").write_text(SLOW_INIT)
    (folder / "stack.yml").write_text(yaml.safe_dump({"functions": {"llm": {
        "lang": "gaia-python", "handler": "./llm", "image": "reg/llm:1", "environment": {"MODEL_ID": "m"},
        "annotations": {"com.gaia.mode": "gpu_preferred", "com.gaia.slo-ms": "500"}}}}))
    result = subprocess.run([sys.executable, "-m", "gaia_faas.cli", "stack", "-f", str(folder / "stack.yml"), "-o", "-",
                             *flags], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)["functions"]


def _status(url: str) -> int:
    """The HTTP status, or 0 when no answer came within the probe's time."""
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def _as_on_ce(context: Path, variant: str, environment: dict, tmp: Path) -> tuple[RuntimeProcess, Path]:
    """The runtime with the pod's environment, and the path of the lock the watchdog's /_/health checks.

    RuntimeProcess gives each runtime a readiness file of its own (GAIA_READY_LOCK), so no two tests share one:
    with the image default that file plays the watchdog's lock; with --ce the watchdog writes a lock of its own.
    """
    env = {k: v for k, v in environment.items() if k != "GAIA_READY_LOCK"}
    runtime = RuntimeProcess(context, variant=variant, env=env, workers=1)
    if env.get("suppress_lock", "true") != "false":
        return runtime, runtime.lock_path
    watchdog_lock = tmp / f"watchdog-{runtime.port}.lock"
    watchdog_lock.touch()  # the watchdog writes its lock as it starts listening
    return runtime, watchdog_lock


def test_ce_stack_keeps_the_watchdog_lock_apart_and_lets_the_gpu_variant_fall_back(tmp_path):
    plain = _generated(tmp_path / "plain")
    ce = _generated(tmp_path / "ce", "--ce")
    for name in ("llm-cpu", "llm-gpu"):
        env = ce[name]["environment"]
        assert env["suppress_lock"] == "false" and env["GAIA_READY_LOCK"] not in ("", WATCHDOG_LOCK)
        assert env["MODEL_ID"] == "m"  # the function's own environment is kept
        assert "suppress_lock" not in plain[name].get("environment", {})
    assert ce["llm-gpu"]["environment"]["GAIA_ALLOW_CPU_FALLBACK"] == "1"
    assert "GAIA_ALLOW_CPU_FALLBACK" not in ce["llm-cpu"]["environment"]
    assert "com.openfaas.profile" not in ce["llm-gpu"]["annotations"]  # CE ignores Profiles
    assert plain["llm-gpu"]["annotations"]["com.openfaas.profile"] == "gpu"


@pytest.mark.timeout(120)
def test_a_9_second_model_load_passes_ces_liveness_probe_only_with_ce(tmp_path):
    plain = _generated(tmp_path / "plain")
    ce = _generated(tmp_path / "ce", "--ce")
    context = assemble_build_context(tmp_path / "ce" / "llm", tmp_path / "build")
    started = {
        "plain": _as_on_ce(context, "cpu", plain["llm-cpu"].get("environment", {}), tmp_path),
        "ce": _as_on_ce(context, "cpu", ce["llm-cpu"]["environment"], tmp_path),
        "ce-gpu": _as_on_ce(context, "gpu", ce["llm-gpu"]["environment"], tmp_path),
    }
    runtimes = {name: runtime for name, (runtime, _) in started.items()}
    locks = {name: lock for name, (_, lock) in started.items()}
    starters = [threading.Thread(target=r.start, kwargs={"timeout": 90}, daemon=True) for r in runtimes.values()]
    try:
        for starter in starters:
            starter.start()
        # The liveness probe as the kubelet runs it (/_/health = the lock exists): restart after 3 failures in a row.
        failures = dict.fromkeys(runtimes, 0)
        restarted = dict.fromkeys(runtimes, False)
        began = time.monotonic()
        while time.monotonic() - began < PROBE_PERIOD_S * (FAILURE_THRESHOLD + 0.5):
            for name, lock in locks.items():
                failures[name] = 0 if lock.exists() else failures[name] + 1
                restarted[name] |= failures[name] >= FAILURE_THRESHOLD
            time.sleep(PROBE_PERIOD_S)
        assert restarted == {"plain": True, "ce": False, "ce-gpu": False}
        assert _status(f"{runtimes['ce'].url}/_/ready") != 200  # still loading: readiness says so
        for starter in starters:
            starter.join(90)
        # Readiness still means "model loaded", through /_/ready (the watchdog's ready_path).
        assert _status(f"{runtimes['ce'].url}/_/ready") == 200
        with urllib.request.urlopen(f"{runtimes['ce-gpu'].url}/_/gaia", timeout=5) as response:
            info = json.loads(response.read())
        assert info["variant"] == "gpu" and info["device"] == ("cuda" if info["gpus"] else "cpu")
        assert locks["ce"].exists() and locks["ce-gpu"].exists()  # the runtime never touched the watchdog's lock
    finally:
        for runtime in runtimes.values():
            runtime.close()
