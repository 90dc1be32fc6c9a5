"""The first commands a newcomer types, on a machine without internet or with port 8080 taken (issue 13, 9-10).

Real `gaia` processes; the "busy port" is a real HTTP server (Python's http.server, and one answering the
OpenFaaS gateway's documented GET /system/info and its basic-auth realm, /work/shared/docs/ecosystem.md §4).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer, SimpleHTTPRequestHandler
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def gaia(*args: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gaia_faas.cli", *args], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, **(env or {})}, timeout=timeout)


def offline_env(tmp_path: Path) -> dict:
    # An empty Hugging Face cache: the reference llm's TinyLlama is not on this machine.
    return {"HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"}


def test_local_run_without_the_llm_model_says_what_to_do_in_one_line_before_starting_anything(tmp_path):
    result = gaia("local-run", "--port", "1", env=offline_env(tmp_path))  # port 1 would fail later: never reached
    assert result.returncode == 2
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("gaia local-run: llm needs the model TinyLlama/TinyLlama-1.1B-Chat-v1.0, which is not on this machine")
    assert "--functions matmul,image-classification,idle-wait" in line and "--env MODEL_ID=" in line


def test_a_local_model_folder_passes_the_model_check(tmp_path):
    from gaia_faas.local_run import check_models_on_disk, load_stack, plan_functions

    functions = plan_functions(load_stack(REPO / "stack.yml"), REPO, ["llm"])
    (tmp_path / "model").mkdir()
    check_models_on_disk(functions, {"MODEL_ID": str(tmp_path / "model")})


class _Gateway(BaseHTTPRequestHandler):
    """Answers like the OpenFaaS CE gateway: /system/info behind basic auth, 404 for unknown paths."""

    def do_GET(self):  # noqa: N802
        if self.path == "/system/info":
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="Restricted"')
            self.end_headers()
            return
        self.send_response(404)
        self.end_headers()
        self.wfile.write(b"404 page not found\n")

    def log_message(self, *args):
        pass


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(params=[_Gateway, _Quiet], ids=["openfaas-gateway", "plain-http-server"])
def busy_port(request):
    server = HTTPServer(("127.0.0.1", 0), request.param)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], request.param
    server.shutdown()
    server.server_close()


def test_demo_with_its_port_taken_says_so_first_under_its_own_name(busy_port, tmp_path):
    port, kind = busy_port
    result = gaia("demo", "--port", str(port), "--duration", "1", env=offline_env(tmp_path))
    assert result.returncode == 2 and result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith(f"gaia demo: port {port} on 127.0.0.1 is already in use by ")
    assert ("an OpenFaaS gateway" in line) == (kind is _Gateway)
    assert "choose another port with --port" in line


def test_status_against_a_server_that_is_not_the_plugin_says_what_it_is(busy_port):
    port, kind = busy_port
    result = gaia("status", "--url", f"http://127.0.0.1:{port}")
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    if kind is _Gateway:
        assert "is an OpenFaaS gateway (basic auth on /system/info), not the Gaia plugin in front of it" in line
    else:
        assert "is a server that is not a Gaia gateway plugin (Server: SimpleHTTP" in line
    assert "point --url at the Gaia gateway plugin" in line


def test_what_answers_reads_the_gateways_system_info():
    info = {"provider": {"provider": "faas-netes", "orchestration": "kubernetes"}, "version": {"release": "0.27.14"}}

    class Open(_Gateway):
        def do_GET(self):  # noqa: N802
            if self.path != "/system/info":
                return super().do_GET()
            body = json.dumps(info).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

    from gaia_faas.gateway_plugin.status import what_answers

    server = HTTPServer(("127.0.0.1", 0), Open)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        said = what_answers(f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()
    assert said == "an OpenFaaS gateway (0.27.14, provider faas-netes), not the Gaia plugin in front of it"
