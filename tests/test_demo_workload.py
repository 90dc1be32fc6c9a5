import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from gaia_faas.workload import Driver, Workload, idle_wait_workload, matmul_workload, matrix_size_at, sample_image_png


def test_matrix_sizes_climb_a_staircase_then_hold_the_largest():
    sizes = [500, 1000, 2000]
    assert [matrix_size_at(p, sizes, ramp_share=0.6) for p in (0.0, 0.19, 0.21, 0.39, 0.41, 0.59, 0.61, 1.0)] == [
        500, 500, 1000, 1000, 2000, 2000, 2000, 2000,
    ]


def test_workload_bodies_are_what_the_functions_accept():
    body, param = matmul_workload([500, 4500]).request(0.5)
    assert json.loads(body) == {"matrix_size": 4500} and param == "4500"
    body, _ = idle_wait_workload(2.0, clients=4).request(0.3)
    assert json.loads(body) == {"wait_time": 2.0}
    assert sample_image_png()[:4] == b"\x89PNG"


class _Upstream(BaseHTTPRequestHandler):
    """Answers like the plugin: 200 with X-Gaia-Variant, except a 400 for a body asking for one."""

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        status = 400 if json.loads(body).get("fail") else 200
        self.send_response(status)
        self.send_header("X-Gaia-Variant", "gpu" if self.path.endswith("/b") else "cpu")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


@pytest.fixture
def upstream_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_driver_stops_at_the_request_budget_and_records_every_call(upstream_url):
    workloads = [
        Workload("a", clients=3, pause_s=0.0, request=lambda p: (b'{"x": 1}', "x")),
        Workload("b", clients=1, pause_s=0.0, request=lambda p: (b'{"fail": true}', "f")),
    ]
    driver = Driver(upstream_url, workloads, duration=30, max_requests=200)
    driver.start()
    driver.join(timeout=20)
    assert not driver.running()
    records = driver.snapshot()
    assert len(records) == 200
    assert {r.variant for r in records if r.function == "a"} == {"cpu"}
    assert all(r.status == 400 and r.variant == "gpu" for r in records if r.function == "b")
    assert len(driver.failures) == sum(1 for r in records if r.function == "b") > 0


def test_driver_stops_at_the_duration_and_reports_unreachable_gateways():
    driver = Driver("http://127.0.0.1:9", [Workload("a", 1, 0.05, lambda p: (b"{}", ""))], duration=0.5, max_requests=10_000)
    driver.start()
    driver.join(timeout=10)
    records = driver.snapshot()
    assert records and all(r.status == 0 and not r.ok for r in records)
    assert max(r.start for r in records) < 0.5
