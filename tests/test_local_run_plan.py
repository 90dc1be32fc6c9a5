import socket
from pathlib import Path

import pytest
import yaml

from gaia_faas.local_run import (
    LocalRunError,
    check_handler_folders,
    check_port_free,
    likely_cause,
    parse_env_overrides,
    load_stack,
    plan_functions,
    routes_document,
)

REPO = Path(__file__).resolve().parent.parent

STACK = """
version: "1.0"
provider: {name: openfaas, gateway: http://127.0.0.1:8080}
functions:
  matmul-cpu:
    lang: gaia-python
    handler: ./functions/matmul
    labels: {com.gaia.function: matmul, com.gaia.variant: cpu}
    annotations: {com.gaia.mode: cpu_preferred, com.gaia.slo-ms: "1000", com.openfaas.health.http.path: /x}
  matmul-gpu:
    lang: gaia-python
    handler: ./functions/matmul
    environment: {EXTRA: "1"}
    labels: {com.gaia.function: matmul, com.gaia.variant: gpu}
    annotations: {com.gaia.mode: cpu_preferred, com.gaia.slo-ms: "1000", com.openfaas.profile: gpu}
  idle-wait-cpu:
    lang: gaia-python
    handler: ./functions/idle-wait
    labels: {com.gaia.function: idle-wait, com.gaia.variant: cpu}
    annotations: {com.gaia.mode: cpu}
  nodeinfo:
    lang: dockerfile
    handler: ./nodeinfo
"""


def test_plan_groups_variants_by_logical_function(tmp_path):
    plans = plan_functions(yaml.safe_load(STACK), tmp_path)
    assert [p.name for p in plans] == ["matmul", "idle-wait"]
    matmul = plans[0]
    assert list(matmul.variants) == ["cpu", "gpu"]
    assert matmul.variants["gpu"].entry == "matmul-gpu"
    assert matmul.variants["gpu"].handler_dir == (tmp_path / "functions/matmul").resolve()
    assert matmul.variants["gpu"].environment == {"EXTRA": "1"}
    assert matmul.annotations == {"com.gaia.mode": "cpu_preferred", "com.gaia.slo-ms": "1000"}
    assert list(plans[1].variants) == ["cpu"]


def test_plan_keeps_a_subset_and_names_unknown_functions(tmp_path):
    stack = yaml.safe_load(STACK)
    assert [p.name for p in plan_functions(stack, tmp_path, ["idle-wait"])] == ["idle-wait"]
    with pytest.raises(LocalRunError, match=r"no function llm in the stack \(functions: idle-wait, matmul\)"):
        plan_functions(stack, tmp_path, ["llm", "matmul"])


@pytest.mark.parametrize(
    "change, message",
    [
        ({"labels": {"com.gaia.function": "matmul", "com.gaia.variant": "tpu"}}, "variant must be cpu or gpu, got 'tpu'"),
        ({"labels": {"com.gaia.function": "matmul", "com.gaia.variant": "cpu"}}, "must be named <com.gaia.function>-cpu"),
        ({"annotations": {}}, "com.gaia.mode is missing"),
        ({"handler": None}, "handler must name the handler folder"),
        ({"environment": ["A=1"]}, "environment must be a mapping"),
    ],
)
def test_plan_refuses_bad_entries_by_name(tmp_path, change, message):
    stack = yaml.safe_load(STACK)
    stack["functions"]["matmul-gpu"].update(change)
    with pytest.raises(LocalRunError, match=message) as excinfo:
        plan_functions(stack, tmp_path)
    assert "functions.matmul-gpu" in str(excinfo.value)


def test_a_source_stack_is_expanded_into_variants_on_the_fly():
    source = {
        "version": "1.0",
        "provider": {"name": "openfaas"},
        "functions": {
            "idle-wait": {
                "lang": "gaia-python",
                "handler": "./functions/idle-wait",
                "image": "gaia/idle-wait:latest",
                "annotations": {"com.gaia.mode": "cpu_preferred", "com.gaia.slo-ms": "1000"},
            }
        },
    }
    [plan] = plan_functions(source, REPO)
    assert plan.name == "idle-wait" and list(plan.variants) == ["cpu", "gpu"]
    assert plan.variants["gpu"].entry == "idle-wait-gpu"
    assert plan.variants["cpu"].handler_dir == REPO / "functions/idle-wait"
    assert plan.annotations["com.gaia.mode"] == "cpu_preferred"
    assert plan.annotations["com.gaia.mode-source"] == "declared"
    assert plan.annotations["com.gaia.slo-ms"] == "1000"


def test_load_stack_explains_unreadable_files(tmp_path):
    with pytest.raises(LocalRunError, match="cannot read stack file"):
        load_stack(tmp_path / "missing.yml")
    (tmp_path / "bad.yml").write_text("functions: [\n")
    with pytest.raises(LocalRunError, match="not valid YAML"):
        load_stack(tmp_path / "bad.yml")
    (tmp_path / "empty.yml").write_text("version: '1.0'\n")
    with pytest.raises(LocalRunError, match="no `functions:` mapping"):
        load_stack(tmp_path / "empty.yml")


def test_missing_function_folder_is_named(tmp_path):
    plans = plan_functions(yaml.safe_load(STACK), tmp_path, ["idle-wait"])
    with pytest.raises(LocalRunError, match=r"idle-wait-cpu: function folder .*functions/idle-wait does not exist"):
        check_handler_folders(plans)
    (tmp_path / "functions/idle-wait").mkdir(parents=True)
    with pytest.raises(LocalRunError, match="has no handler.py"):
        check_handler_folders(plans)
    (tmp_path / "functions/idle-wait/handler.py").write_text("def handle(event, context):\n    return 'ok'\n")
    check_handler_folders(plans)


def test_routes_document_has_the_design_shape(tmp_path):
    plans = plan_functions(yaml.safe_load(STACK), tmp_path)
    urls = {("matmul", "cpu"): "http://127.0.0.1:1", ("matmul", "gpu"): "http://127.0.0.1:2", ("idle-wait", "cpu"): "http://127.0.0.1:3"}
    assert routes_document(plans, urls) == {
        "functions": {
            "matmul": {
                "variants": {"cpu": "http://127.0.0.1:1", "gpu": "http://127.0.0.1:2"},
                "annotations": {"com.gaia.mode": "cpu_preferred", "com.gaia.slo-ms": "1000"},
            },
            "idle-wait": {"variants": {"cpu": "http://127.0.0.1:3"}, "annotations": {"com.gaia.mode": "cpu"}},
        }
    }


def test_a_port_in_use_is_a_clear_error():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with pytest.raises(LocalRunError, match=f"port {port} on 127.0.0.1 is already in use.*--port"):
            check_port_free("127.0.0.1", port)
    check_port_free("127.0.0.1", port)


def test_likely_cause_is_the_handlers_exception_not_gunicorns():
    output = "\n".join([
        'raise RuntimeError("model file weights.bin is missing")',
        "RuntimeError: model file weights.bin is missing",
        "[ERROR] Worker (pid:1) exited with code 3.",
        "gunicorn.errors.HaltServer: <HaltServer 'Worker failed to boot.' 3>",
    ])
    assert likely_cause(output) == "RuntimeError: model file weights.bin is missing"
    assert likely_cause("  File 'handler.py', line 1\nSyntaxError: expected ':'") == "SyntaxError: expected ':'"
    assert likely_cause("ModuleNotFoundError: No module named 'tensorflow'") == "ModuleNotFoundError: No module named 'tensorflow'"
    assert likely_cause("not ready after 180s:\n[INFO] Booting worker") is None


def test_env_overrides_are_key_value_pairs():
    assert parse_env_overrides(["MODEL_ID=/m", "EMPTY=", "A=b=c"]) == {"MODEL_ID": "/m", "EMPTY": "", "A": "b=c"}
    with pytest.raises(LocalRunError, match="--env takes KEY=VALUE, got 'MODEL_ID'"):
        parse_env_overrides(["MODEL_ID"])
