"""Event connectors invoke the logical function once, through the plugin (issue 13, item 3).

The connectors' rules, as written in their sources:
- connector-sdk `types/function_list_builder.go` (`FunctionLookupBuilder.Build`, `buildServiceMap`): list
  `GET /system/functions` (per namespace), take every function whose annotations hold `topic` (a list split
  on the topic delimiter, usually ","), and call `<gateway>/function/<name>[.<namespace>]`;
  `types/invoker.go` POSTs the event there with an `X-Topic` header;
- the cron-connector does the same for `topic: cron-function` and reads the `schedule` annotation.

Here: `gaia stack` output, served by an OpenFaaS gateway stand-in, behind a real `gaia gateway` process.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from gaia_faas.gateway_plugin.connectors import with_logical_functions
from gaia_faas.processes import RedisServer
from tests.test_gateway_proxy import FakeOpenFaaS, Gateway, call

REPO = Path(__file__).resolve().parent.parent
AUTH = {"Authorization": "Basic " + base64.b64encode(b"admin:s3cret").decode()}


def connector_topic_map(listing: list[dict], namespace: str = "", delimiter: str = ",") -> dict[str, list[str]]:
    """connector-sdk's buildServiceMap, in Python: topic -> the function paths it invokes."""
    topics: dict[str, list[str]] = {}
    for function in listing:
        names = (function.get("annotations") or {}).get("topic")
        if names is None:
            continue
        for topic in names.split(delimiter) if delimiter and delimiter in names else [names]:
            if topic.strip():
                topics.setdefault(topic.strip(), []).append(function["name"] + (f".{namespace}" if namespace else ""))
    return topics


@pytest.fixture
def generated(tmp_path) -> list[dict]:
    handler = tmp_path / "orders"
    handler.mkdir()
    (handler / "handler.py").write_text("import torch\n\ndef handle(event, context):\n    return torch.ones(2).sum().item()\n")
    (tmp_path / "stack.yml").write_text(yaml.safe_dump({"version": "1.0", "provider": {"name": "openfaas"}, "functions": {
        "orders": {"lang": "gaia-python", "handler": "./orders", "image": "reg/orders:1",
                   "annotations": {"com.gaia.mode": "cpu_preferred", "topic": "orders,cron-function",
                                   "schedule": "*/5 * * * *"}}}}))
    result = subprocess.run([sys.executable, "-m", "gaia_faas.cli", "stack", "-f", str(tmp_path / "stack.yml"),
                             "-o", "-"], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    functions = yaml.safe_load(result.stdout)["functions"]
    # What the OpenFaaS gateway lists for them once deployed (FunctionStatus: name, labels, annotations, ...).
    return [{"name": name, "image": entry["image"], "namespace": "openfaas-fn", "labels": entry["labels"],
             "annotations": entry["annotations"], "replicas": 1, "availableReplicas": 1, "invocationCount": 0}
            for name, entry in functions.items()]


def test_gaia_stack_keeps_connector_annotations_off_the_variants(generated):
    assert sorted(f["name"] for f in generated) == ["orders-cpu", "orders-gpu"]
    for variant in generated:
        assert "topic" not in variant["annotations"] and "schedule" not in variant["annotations"]
        assert variant["annotations"]["com.gaia.topic"] == "orders,cron-function"
        assert variant["annotations"]["com.gaia.schedule"] == "*/5 * * * *"
    assert connector_topic_map(generated) == {}  # no connector invokes a variant directly


def test_the_listing_gains_one_logical_entry_per_function_with_events(generated):
    listing = with_logical_functions(generated)
    [logical] = [f for f in listing if f["name"] == "orders"]
    assert logical["annotations"]["topic"] == "orders,cron-function" and logical["annotations"]["schedule"] == "*/5 * * * *"
    assert logical["labels"]["com.gaia.logical"] == "true" and logical["replicas"] == 2
    assert connector_topic_map(listing) == {"orders": ["orders"], "cron-function": ["orders"]}
    assert with_logical_functions(listing) == listing  # listed already: never twice
    assert with_logical_functions({"not": "a list"}) == {"not": "a list"}


@pytest.mark.timeout(120)
def test_a_connector_through_the_plugin_invokes_the_function_once_and_it_is_routed(generated):
    openfaas = FakeOpenFaaS()
    openfaas.functions = generated + [{"name": "plain", "namespace": "openfaas-fn", "labels": {},
                                       "annotations": {"topic": "orders"}}]
    openfaas.start()
    redis_server = RedisServer().start()
    gateway = None
    try:
        gateway = Gateway(["--upstream", openfaas.url, "--redis-url", redis_server.url, "--workers", "1",
                           "--discovery-interval", "1", "--no-controller"], {"OPENFAAS_PASSWORD": "s3cret"})
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            status, _, body = call(f"{gateway.url}/gaia/v1/functions")
            if status == 200 and any(f["name"] == "orders" for f in json.loads(body)["functions"]):
                break
            time.sleep(0.2)
        status, headers, body = call(f"{gateway.url}/system/functions", headers=AUTH)
        assert status == 200 and headers["Content-Type"].startswith("application/json")
        # connector-sdk lists per namespace and calls NAME.NAMESPACE, which the plugin routes.
        topics = connector_topic_map(json.loads(body), namespace="openfaas-fn")
        assert {k: sorted(v) for k, v in topics.items()} == {
            "orders": ["orders.openfaas-fn", "plain.openfaas-fn"], "cron-function": ["orders.openfaas-fn"]}

        # One event on topic "orders", delivered as connector-sdk's invoker does it.
        openfaas.seen.clear()
        for path in topics["orders"]:
            request = urllib.request.Request(f"{gateway.url}/function/{path}", data=b'{"id": 1}', method="POST",
                                             headers={"X-Topic": "orders", "Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=30) as response:
                assert response.status == 200
                if path.startswith("orders."):
                    assert response.headers["X-Gaia-Variant"] == "cpu"
        invoked = sorted(path for method, path in openfaas.seen if method == "POST")
        assert invoked == ["/function/orders-cpu.openfaas-fn", "/function/plain.openfaas-fn"]
        # Without auth the gateway's 401 passes through unchanged.
        status, headers, _ = call(f"{gateway.url}/system/functions")
        assert status == 401 and "Restricted" in headers["WWW-Authenticate"]
    finally:
        if gateway is not None:
            gateway.stop()
        redis_server.close()
        openfaas.stop()
