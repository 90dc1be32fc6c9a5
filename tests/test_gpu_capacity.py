"""The GPU pool's capacity: the setting (flag, environment, routes file) and the cluster's allocatable GPUs
read from a real loopback HTTP server that answers like the Kubernetes API server."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from gaia_faas.gateway_plugin import cli
from gaia_faas.gateway_plugin.capacity import (Capacity, CapacityError, ClusterAPI, allocatable_gpus,
                                               routes_file_capacity)

TOKEN = "service-account-token"


def node(name, gpus, ready=True, unschedulable=False, resource="nvidia.com/gpu"):
    return {"metadata": {"name": name}, "spec": {"unschedulable": True} if unschedulable else {},
            "status": {"allocatable": {"cpu": "16", resource: str(gpus)} if gpus is not None else {"cpu": "16"},
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


NODES = [node("gpu-a", 4), node("gpu-b", 2), node("cpu-only", None), node("cordoned", 8, unschedulable=True),
         node("not-ready", 8, ready=False), node("amd", 1, resource="amd.com/gpu")]


class FakeAPIServer:
    """/api/v1/nodes as the API server answers it: bearer token checked, pages of ``limit`` with ``continue``."""

    def __init__(self, nodes, token=TOKEN):
        self.nodes, self.token, self.requests = nodes, token, []

    async def nodes_handler(self, request: web.Request) -> web.Response:
        self.requests.append(dict(request.query))
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"kind": "Status", "reason": "Forbidden", "code": 403}, status=403)
        limit = min(int(request.query.get("limit", "500")), 2)  # small pages so that paging is exercised
        start = int(request.query.get("continue") or 0)
        page = self.nodes[start:start + limit]
        more = start + limit < len(self.nodes)
        return web.json_response({"kind": "NodeList", "apiVersion": "v1",
                                  "metadata": {"continue": str(start + limit) if more else ""}, "items": page})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/v1/nodes", self.nodes_handler)
        return app


async def read_gpus(fake: FakeAPIServer, token=TOKEN, resource="nvidia.com/gpu") -> int:
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as session:
            return await ClusterAPI(str(server.make_url("")).rstrip("/"), token).gpus(session, resource)
    finally:
        await server.close()


def test_allocatable_gpus_of_ready_schedulable_nodes_over_pages():
    fake = FakeAPIServer(NODES)
    assert asyncio.run(read_gpus(fake)) == 6
    assert len(fake.requests) == 3 and fake.requests[1]["continue"] == "2"
    assert asyncio.run(read_gpus(FakeAPIServer(NODES), resource="amd.com/gpu")) == 1
    assert allocatable_gpus({"items": []}) == 0
    with pytest.raises(CapacityError, match="no 'items'"):
        allocatable_gpus({"kind": "Status"})


def test_without_read_access_the_error_names_the_rbac_needed():
    with pytest.raises(CapacityError, match="403.*get/list on nodes"):
        asyncio.run(read_gpus(FakeAPIServer(NODES), token="wrong"))


def test_capacity_is_the_lower_of_setting_and_cluster_and_keeps_the_last_known_on_failure(tmp_path):
    async def scenario():
        fake = FakeAPIServer(NODES)
        server = TestServer(fake.app(), host="127.0.0.1")
        await server.start_server()
        base = str(server.make_url("")).rstrip("/")
        async with aiohttp.ClientSession() as session:
            from_cluster = Capacity(cluster=ClusterAPI(base, TOKEN), refresh_s=10)
            assert await from_cluster.refresh(session, now=0) == 6
            limited = Capacity(setting=2, cluster=ClusterAPI(base, TOKEN))
            assert await limited.refresh(session, now=0) == 2
            bigger = Capacity(setting=50, cluster=ClusterAPI(base, TOKEN))
            assert await bigger.refresh(session, now=0) == 6
            fake.nodes = NODES[:1]
            assert await from_cluster.refresh(session, now=5) == 6  # not yet due
            assert await from_cluster.refresh(session, now=10) == 4
            await server.close()  # the API server goes away: the last known count stays, with the reason
            assert await from_cluster.refresh(session, now=20) == 4
            assert "cannot read" in from_cluster.describe()["error"]
            forbidden = Capacity(setting=3, cluster=ClusterAPI(base, "wrong"))
            assert await forbidden.refresh(session, now=0) == 3  # falls back to the setting
        assert Capacity().value is None  # nothing known: unlimited

    asyncio.run(scenario())


def test_in_cluster_api_from_the_service_account(tmp_path):
    (tmp_path / "token").write_text(TOKEN + "\n")
    (tmp_path / "ca.crt").write_text("not used here")
    api = ClusterAPI.in_cluster({"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "6443"}, tmp_path)
    assert api == ClusterAPI("https://10.0.0.1:6443", TOKEN, str(tmp_path / "ca.crt"))
    assert ClusterAPI.in_cluster({"KUBERNETES_SERVICE_HOST": "fd00::1"}, tmp_path).base_url == "https://[fd00::1]:443"
    assert ClusterAPI.in_cluster({}, tmp_path) is None


def test_routes_file_setting(tmp_path):
    routes = tmp_path / "routes.yml"
    routes.write_text(json.dumps({"gpu_capacity": 3, "functions": {"f": {"variants": {"cpu": "http://127.0.0.1:1"}}}}))
    assert routes_file_capacity(routes) == 3
    refreshed = Capacity(routes_file=str(routes))
    assert asyncio.run(refreshed.refresh(None, now=0)) == 3
    assert asyncio.run(Capacity(setting=1, routes_file=str(routes)).refresh(None, now=0)) == 1  # the flag wins
    routes.write_text(json.dumps({"gpu_capacity": "two", "functions": {}}))
    with pytest.raises(CapacityError, match="gpu_capacity: the GPU capacity must be a whole number"):
        routes_file_capacity(routes)
    routes.write_text(json.dumps({"functions": {}}))
    assert routes_file_capacity(routes) is None


def parse(args, env=None):
    parser = argparse.ArgumentParser()
    old = dict(os.environ)
    os.environ.update(env or {})
    try:
        cli.add_arguments(parser)
    finally:
        os.environ.clear()
        os.environ.update(old)
    return cli.build_config(parser.parse_args(args))


def test_flag_and_environment_reach_the_config(tmp_path):
    config = parse(["--upstream", "http://gateway:8080", "--gpu-capacity", "4", "--gpu-min-dwell", "30"])
    assert config.gpu_capacity == 4 and config.pool.min_dwell_s == 30 and config.pool.preempt_ratio == 2
    assert config.pool.release_grace_s == 30
    assert parse(["--upstream", "http://gateway:8080", "--gpu-release-grace", "5"]).pool.release_grace_s == 5
    assert parse(["--upstream", "http://gateway:8080"], {"GAIA_GPU_RELEASE_GRACE": "0"}).pool.release_grace_s == 0
    config = parse(["--upstream", "http://gateway:8080"], {"GAIA_GPU_CAPACITY": "2", "GAIA_GPU_PREEMPT_RATIO": "3"})
    assert config.gpu_capacity == 2 and config.pool.preempt_ratio == 3
    assert parse(["--upstream", "http://gateway:8080"]).gpu_capacity is None


def test_bad_capacity_settings_are_one_line_errors(tmp_path):
    routes = tmp_path / "routes.yml"
    routes.write_text("gpu_capacity: -1\nfunctions:\n  f:\n    variants: {cpu: 'http://127.0.0.1:1'}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAIA_")}
    for args, message in ((["--upstream", "http://g:8080", "--gpu-capacity", "1.5"], "--gpu-capacity: the GPU capacity must be"),
                          (["--upstream", "http://g:8080", "--gpu-preempt-ratio", "0.5"], "preemption ratio must be at least 1"),
                          (["--upstream", "http://g:8080", "--gpu-release-grace", "-1"], "release grace must be 0 or more"),
                          (["--routes", str(routes)], "gpu_capacity: the GPU capacity must be a whole number")):
        result = subprocess.run([sys.executable, "-m", "gaia_faas.cli", "gateway", *args], capture_output=True,
                                text=True, timeout=30, env=env)
        assert result.returncode == 2, result.stderr
        assert message in result.stderr and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_routes_file_setting_is_read_again_only_when_the_file_changed(tmp_path):
    routes = tmp_path / "routes.yml"
    routes.write_text(json.dumps({"gpu_capacity": 5, "functions": {}}))
    capacity = Capacity(routes_file=str(routes), refresh_s=30.0)
    assert asyncio.run(capacity.refresh(None, now=0)) == 5
    before = os.stat(routes)
    routes.write_text(json.dumps({"gpu_capacity": 7, "functions": {}}))  # same size
    os.utime(routes, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert asyncio.run(capacity.refresh(None, now=31)) == 5  # the same stamp: not parsed again
    os.utime(routes)
    assert asyncio.run(capacity.refresh(None, now=62)) == 7
    routes.write_text(json.dumps({"gpu_capacity": "two", "functions": {}}))
    assert asyncio.run(capacity.refresh(None, now=93)) == 7 and "whole number" in capacity.error
