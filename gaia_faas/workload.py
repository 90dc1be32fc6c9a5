"""The research workloads as request generators, and a bounded multi-threaded driver that records every call.

A workload says what its next request is (a pure function of the run's progress); the driver sends requests
through the gateway plugin from a few client threads until the time or the request budget runs out, and
records each answer (latency, status, the `X-Gaia-Variant` that served it).
"""

from __future__ import annotations

import base64
import io
import json
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Callable

from gaia_faas.demo_report import RequestRecord

REQUEST_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Workload:
    function: str
    clients: int  # concurrent client threads
    pause_s: float  # each client's pause between two requests
    request: Callable[[float], tuple[bytes, str]]  # progress 0..1 -> (JSON body, param shown in the report)


def matrix_size_at(progress: float, sizes: list[int], ramp_share: float = 0.6) -> int:
    """A staircase through ``sizes`` over the first ``ramp_share`` of the run, then the last size.

    Each size is held for a while (not a smooth ramp) so that, after a switch, the controller compares the
    new variant with the old one on requests of the same size.
    """
    step = int(max(0.0, progress) / ramp_share * len(sizes)) if ramp_share > 0 else len(sizes)
    return sizes[min(step, len(sizes) - 1)]


def matmul_workload(sizes: list[int]) -> Workload:
    def request(progress: float) -> tuple[bytes, str]:
        size = matrix_size_at(progress, sizes)
        return json.dumps({"matrix_size": size}).encode(), str(size)

    # One synchronous client, no wait: the research's "increment" experiment.
    return Workload("matmul", clients=1, pause_s=0.0, request=request)


def idle_wait_workload(wait_time: float, clients: int) -> Workload:
    body = json.dumps({"wait_time": wait_time}).encode()
    return Workload("idle-wait", clients=clients, pause_s=0.0, request=lambda progress: (body, f"{wait_time:g}s"))


def sample_image_png(side: int = 256) -> bytes:
    """A synthetic colour-gradient picture (no image files ship with the demo)."""
    from PIL import Image

    image = Image.new("RGB", (side, side))
    image.putdata([(x * 255 // side, y * 255 // side, 128) for y in range(side) for x in range(side)])
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def image_classification_workload(pause_s: float) -> Workload:
    body = json.dumps({"image": base64.b64encode(sample_image_png()).decode()}).encode()
    return Workload("image-classification", clients=1, pause_s=pause_s, request=lambda progress: (body, "256x256"))


def llm_workload(pause_s: float, max_new_tokens: int) -> Workload:
    body = json.dumps({"prompt": "What is the capital of Austria?", "max_new_tokens": max_new_tokens}).encode()
    return Workload("llm", clients=1, pause_s=pause_s, request=lambda progress: (body, f"{max_new_tokens} tokens"))


def call(url: str, body: bytes, timeout: float = REQUEST_TIMEOUT_S) -> tuple[int, str, bytes]:
    """POST ``body``; (status, X-Gaia-Variant, response body). Status 0 when no HTTP answer came back."""
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.headers.get("X-Gaia-Variant", ""), response.read()
    except urllib.error.HTTPError as exc:
        payload = exc.read()
        return exc.code, exc.headers.get("X-Gaia-Variant", "") if exc.headers else "", payload
    except (urllib.error.URLError, OSError) as exc:
        return 0, "", str(exc).encode()


class Driver:
    """Runs workloads against ``gateway_url`` for ``duration`` seconds or ``max_requests`` calls in total."""

    def __init__(self, gateway_url: str, workloads: list[Workload], duration: float, max_requests: int):
        self.gateway_url = gateway_url.rstrip("/")
        self.workloads = workloads
        self.duration = duration
        self.max_requests = max_requests
        self.records: list[RequestRecord] = []
        self.failures: list[tuple[RequestRecord, bytes]] = []  # with the answer's body, for the report
        self.started = 0.0
        self._lock = threading.Lock()
        self._sent = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def start(self) -> None:
        self.started = time.monotonic()
        for workload in self.workloads:
            for index in range(workload.clients):
                thread = threading.Thread(target=self._client, args=(workload,), name=f"{workload.function}-{index}", daemon=True)
                thread.start()
                self._threads.append(thread)

    def _take_budget(self) -> bool:
        with self._lock:
            if self._sent >= self.max_requests:
                return False
            self._sent += 1
            return True

    def _client(self, workload: Workload) -> None:
        url = f"{self.gateway_url}/function/{workload.function}"
        while not self._stop.is_set() and self.elapsed() < self.duration and self._take_budget():
            body, param = workload.request(self.elapsed() / self.duration)
            began = time.monotonic()
            status, variant, answer = call(url, body)
            record = RequestRecord(workload.function, began - self.started, (time.monotonic() - began) * 1000, status, variant, param)
            with self._lock:
                self.records.append(record)
                if not record.ok:
                    self.failures.append((record, answer[:300]))
            if workload.pause_s:
                self._stop.wait(workload.pause_s)

    def running(self) -> bool:
        return any(thread.is_alive() for thread in self._threads)

    def join(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for the clients to run out of time or budget."""
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def stop(self) -> None:
        """Stop sending; requests in flight finish (each is bounded by the client timeout)."""
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def snapshot(self) -> list[RequestRecord]:
        with self._lock:
            return list(self.records)
