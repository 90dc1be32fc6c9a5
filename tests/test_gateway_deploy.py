"""deploy/ manifests validate offline against the Kubernetes schemas, and fit the plugin's own settings."""

from __future__ import annotations

import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from gaia_faas.gateway_plugin import cli

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
MANIFESTS = ["redis.yaml", "secret.yaml", "gateway.yaml"]


def documents(name):
    return [doc for doc in yaml.safe_load_all((DEPLOY / name).read_text()) if doc]


@pytest.mark.parametrize("name", MANIFESTS)
def test_manifests_validate_strictly(name):
    docs = documents(name)
    assert docs
    for doc in docs:
        kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)


def test_kustomization_lists_every_manifest():
    kustomization = documents("kustomization.yaml")[0]
    assert kustomization["resources"] == MANIFESTS
    assert sorted(p.name for p in DEPLOY.glob("*.yaml") if p.name != "kustomization.yaml") == sorted(MANIFESTS)


def test_gateway_deployment_wiring():
    by_kind = {(d["kind"], d["metadata"]["name"]): d for name in MANIFESTS for d in documents(name)}
    deployment = by_kind[("Deployment", "gaia-gateway")]
    assert deployment["spec"]["replicas"] >= 2
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    # Every variable the manifest sets is one `gaia gateway` reads (a typo would be silently ignored).
    import argparse

    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    help_text = parser.format_help()
    for name in env:
        assert name in help_text, f"{name} is not read by gaia gateway"
    assert env["GAIA_REDIS_URL"].startswith("redis://gaia-redis.")
    secret = by_kind[("Secret", "gaia-gateway")]
    mounted = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert mounted["secrets"]["secret"]["secretName"] == secret["metadata"]["name"]
    for key in ("OPENFAAS_PASSWORD_FILE", "GAIA_API_TOKEN_FILE"):
        assert Path(env[key]).name in secret["stringData"]
    # Readiness is "can route" (503 before the first discovery); liveness must not restart a pod for that.
    assert container["readinessProbe"]["httpGet"]["path"] == "/gaia/v1/health"
    assert container["livenessProbe"]["httpGet"]["path"] == "/gaia/v1/alive"
    from gaia_faas.gateway_plugin import api

    paths = {route.path for route in api.routes}
    assert {"/gaia/v1/health", "/gaia/v1/alive"} <= paths
    service = by_kind[("Service", "gaia-gateway")]
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    # The GPU pool's capacity: the service account may get/list nodes, nothing more.
    account = by_kind[("ServiceAccount", "gaia-gateway")]
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == account["metadata"]["name"]
    role = by_kind[("ClusterRole", "gaia-gateway-read-nodes")]
    assert role["rules"] == [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list"]}]
    binding = by_kind[("ClusterRoleBinding", "gaia-gateway-read-nodes")]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "gaia-gateway",
                                    "namespace": account["metadata"]["namespace"]}]
    assert account["metadata"]["namespace"] == deployment["metadata"]["namespace"]
    redis_service = by_kind[("Service", "gaia-redis")]
    assert env["GAIA_REDIS_URL"].startswith(f"redis://{redis_service['metadata']['name']}.{redis_service['metadata']['namespace']}:")


def test_gateway_dockerfile_passes_hadolint():
    hadolint = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "hadolint"
    binary = str(hadolint) if hadolint.exists() else "hadolint"
    result = subprocess.run([binary, str(DEPLOY / "gateway.Dockerfile")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
