"""`gaia stack` and `gaia stack --knative` against golden files; idempotence; Knative validity.

Regenerate the golden files after an intended change with `GAIA_UPDATE_GOLDEN=1 pytest tests/test_stack_golden.py`.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from gaia_faas.cli import main
from gaia_faas.stack import expand_stack, load_stack

GOLDEN = Path(__file__).resolve().parent / "golden" / "stack"
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@pytest.fixture
def project(tmp_path):
    """The golden stack and its handler folders, copied so outputs land beside them."""
    root = tmp_path / "project"
    shutil.copytree(GOLDEN, root, ignore=shutil.ignore_patterns("expected-*", "__pycache__"))
    return root


def without_rationales(text: str) -> str:
    """The classifier's wording is its own: golden files hold a placeholder where each rationale goes."""
    from gaia_faas.classifier import classify_path

    source = load_stack(GOLDEN / "stack.yml")["functions"]
    for name, entry in source.items():
        if entry.get("lang") == "gaia-python":
            declared = (entry.get("annotations") or {}).get("com.gaia.mode")
            rationale = classify_path(GOLDEN / entry["handler"], declared_mode=declared).rationale
            text = text.replace(rationale, f"<rationale of {name}>")
    return text


def check_golden(text: str, name: str) -> None:
    text = without_rationales(text)
    golden = GOLDEN / name
    if os.environ.get("GAIA_UPDATE_GOLDEN") == "1":
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")


def test_openfaas_output_matches_golden(project):
    assert main(["stack", "-f", str(project / "stack.yml")]) == 0
    check_golden((project / "gaia-stack.yml").read_text(), "expected-openfaas.yml")


def test_knative_output_and_routes_file_match_golden(project):
    routes = project / "routes.yml"
    assert main(["stack", "-f", str(project / "stack.yml"), "--knative", "--routes", str(routes)]) == 0
    check_golden((project / "gaia-knative.yaml").read_text(), "expected-knative.yaml")
    check_golden(routes.read_text(), "expected-routes.yml")


def test_routes_file_needs_knative(project, capsys):
    assert main(["stack", "-f", str(project / "stack.yml"), "--routes", str(project / "r.yml")]) == 2
    assert "--routes needs --knative" in capsys.readouterr().err


def test_second_run_and_run_on_own_output_change_nothing(project):
    out = project / "gaia-stack.yml"
    assert main(["stack", "-f", str(project / "stack.yml")]) == 0
    first = out.read_text()
    assert main(["stack", "-f", str(project / "stack.yml")]) == 0
    assert out.read_text() == first
    assert main(["stack", "-f", str(out), "-o", str(out)]) == 0
    assert yaml.safe_load(out.read_text()) == yaml.safe_load(first)
    assert main(["stack", "-f", str(out), "-o", str(out)]) == 0
    again = out.read_text()
    assert main(["stack", "-f", str(out), "-o", str(out)]) == 0
    assert out.read_text() == again


def test_unrelated_functions_and_fields_stay_as_they_were(project):
    source = load_stack(project / "stack.yml")
    expanded = expand_stack(source, project).stack
    assert {k: v for k, v in expanded.items() if k != "functions"} == {k: v for k, v in source.items() if k != "functions"}
    assert expanded["functions"]["markdown"] == source["functions"]["markdown"]
    assert list(expanded["functions"]) == ["resize-cpu", "markdown", "embed-cpu", "embed-gpu", "generate-gpu"]
    # Fields the variants do not rewrite are copied unchanged.
    resize = expanded["functions"]["resize-cpu"]
    assert resize["environment"] == source["functions"]["resize"]["environment"]
    assert resize["limits"] == source["functions"]["resize"]["limits"]
    assert expanded["functions"]["embed-gpu"]["build_options"] == ["dev"]


def test_variants_follow_the_mode(project):
    functions = {f.name: f for f in expand_stack(load_stack(project / "stack.yml"), project).functions}
    assert (functions["resize"].mode, sorted(functions["resize"].variants)) == ("cpu", ["cpu"])
    assert (functions["embed"].mode, sorted(functions["embed"].variants)) == ("cpu_preferred", ["cpu", "gpu"])
    assert (functions["generate"].mode, sorted(functions["generate"].variants)) == ("gpu", ["gpu"])
    assert functions["generate"].mode_source == "declared"
    gpu = functions["embed"].variants["gpu"].entry
    assert gpu["annotations"]["com.openfaas.profile"] == "gpu"
    assert gpu["build_args"] == {"GAIA_VARIANT": "gpu"}
    assert gpu["labels"]["com.openfaas.scale.zero-duration"] == "5m"
    cpu = functions["embed"].variants["cpu"].entry
    # Both variants carry the same com.gaia.* annotations (SLO, prices, knobs, mode, rationale).
    gaia = {k: v for k, v in cpu["annotations"].items() if k.startswith("com.gaia.")}
    assert gaia == {k: v for k, v in gpu["annotations"].items() if k.startswith("com.gaia.")}
    assert gaia["com.gaia.slo-ms"] == "50" and gaia["com.gaia.price-gpu"] == "0.0002"


def test_library_expansion_reads_an_expanded_stack_back(project):
    first = expand_stack(load_stack(project / "stack.yml"), project)
    again = expand_stack(first.stack, project)
    assert again.stack == first.stack

    def summary(expansion):
        return sorted(
            (f.name, str(f.handler), f.mode, f.mode_source, tuple(sorted(f.variants)), tuple(sorted(f.annotations.items())))
            for f in expansion.functions
        )

    assert summary(again) == summary(first)
    embed = next(f for f in first.functions if f.name == "embed")
    assert embed.handler == (project / "embed").resolve()
    assert embed.variants["gpu"].image == "embed-gpu"


def test_knative_services_are_what_knative_requires(project):
    assert main(["stack", "-f", str(project / "stack.yml"), "--knative", "--namespace", "ai"]) == 0
    documents = list(yaml.safe_load_all((project / "gaia-knative.yaml").read_text()))
    assert [d["metadata"]["name"] for d in documents] == ["resize-cpu", "embed-cpu", "embed-gpu", "generate-gpu"]
    for doc in documents:
        assert (doc["apiVersion"], doc["kind"]) == ("serving.knative.dev/v1", "Service")
        assert DNS_LABEL.match(doc["metadata"]["name"]) and len(doc["metadata"]["name"]) <= 63
        assert doc["metadata"]["namespace"] == "ai"
        # The webhook rejects autoscaling annotations on the Service's own metadata.
        assert not any(k.startswith("autoscaling.knative.dev/") for k in doc["metadata"]["annotations"])
        template = doc["spec"]["template"]
        assert all(isinstance(v, str) for v in template["metadata"]["annotations"].values())
        (container,) = template["spec"]["containers"]
        assert container["readinessProbe"] == {"httpGet": {"path": "/_/ready", "port": 8080}}
        assert container["ports"] == [{"containerPort": 8080}]
        assert container["image"]
        gpu = doc["metadata"]["labels"]["com.gaia.variant"] == "gpu"
        assert (container.get("resources", {}).get("limits", {}).get("nvidia.com/gpu") == "1") == gpu
        assert template["metadata"]["annotations"]["autoscaling.knative.dev/min-scale"] == ("0" if gpu else "1")
        # The revision template is a PodSpec: check it against the Kubernetes schema.
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": template["metadata"] | {"name": "x"}, "spec": template["spec"]}
        kubernetes_validate.validate(pod, kubernetes_validate.utils.latest_version(), strict=True)


def test_the_schema_check_itself_rejects_a_broken_podspec():
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}, "spec": {"containers": [{"image": 3}]}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(pod, kubernetes_validate.utils.latest_version(), strict=True)


def test_gpu_profile_manifest_matches_what_the_gpu_variants_ask_for(project):
    profile = yaml.safe_load((GOLDEN.parent.parent.parent / "deploy" / "openfaas-pro" / "gpu-profile.yaml").read_text())
    assert (profile["apiVersion"], profile["kind"]) == ("openfaas.com/v1", "Profile")
    assert profile["metadata"] == {"name": "gpu", "namespace": "openfaas"}
    spec = profile["spec"]
    assert spec["runtimeClassName"] == "nvidia" and "runtimeClass" not in spec
    assert spec["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert spec["strategy"] == {"type": "Recreate"}
    gpu_variants = [
        entry for entry in expand_stack(load_stack(project / "stack.yml"), project).stack["functions"].values()
        if entry.get("labels", {}).get("com.gaia.variant") == "gpu"
    ]
    assert gpu_variants and all(
        profile["metadata"]["name"] in entry["annotations"]["com.openfaas.profile"].split(",") for entry in gpu_variants
    )
