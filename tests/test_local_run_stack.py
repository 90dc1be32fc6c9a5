"""The reference stack.yml: generated from stack.source.yml by `gaia stack`, in a shape faas-cli accepts."""

import re
from pathlib import Path

import yaml

from gaia_faas.local_run import plan_functions
from gaia_faas.stack import dump_stack, expand_stack

REPO = Path(__file__).resolve().parent.parent
FUNCTIONS = ["matmul", "image-classification", "llm", "idle-wait"]


def _without_rationale(text: str) -> str:
    # The rationale is the classifier's wording, which changes as the classifier learns; modes, SLOs and every
    # other field must match exactly.
    return re.sub(r"com\.gaia\.rationale: .*", "com.gaia.rationale: ...", text)


def test_stack_yml_is_what_gaia_stack_writes_from_its_source():
    source = yaml.safe_load((REPO / "stack.source.yml").read_text())
    expected = dump_stack(expand_stack(source, REPO).stack, "stack.source.yml")
    actual = (REPO / "stack.yml").read_text()
    assert _without_rationale(actual) == _without_rationale(expected), "run: gaia stack -f stack.source.yml -o stack.yml"


def test_stack_yml_expands_to_itself():
    stack = yaml.safe_load((REPO / "stack.yml").read_text())
    assert expand_stack(stack, REPO).stack == stack


def test_stack_yml_fits_the_faas_cli_schema():
    stack = yaml.safe_load((REPO / "stack.yml").read_text())
    assert stack["version"] == "1.0" and stack["provider"]["name"] == "openfaas"
    for name, entry in stack["functions"].items():
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name) and len(name) <= 63
        assert (REPO / entry["handler"]).is_dir()
        assert isinstance(entry["build_args"], dict)  # faas-cli's build_args is a map, not a list
        assert set(entry.get("limits", {})) <= {"memory", "cpu"}  # no GPU key exists in stack.yml
        for field in ("labels", "annotations", "environment", "build_args"):
            assert all(isinstance(v, str) for v in entry.get(field, {}).values()), f"{name}.{field}"
        gpu = entry["labels"]["com.gaia.variant"] == "gpu"
        assert ("com.openfaas.profile" in entry["annotations"]) == gpu


def test_every_reference_function_has_both_variants_and_an_slo():
    plans = plan_functions(yaml.safe_load((REPO / "stack.yml").read_text()), REPO)
    assert [p.name for p in plans] == FUNCTIONS
    for plan in plans:
        assert list(plan.variants) == ["cpu", "gpu"], plan.name
        assert float(plan.annotations["com.gaia.slo-ms"]) > 0
    modes = {p.name: p.annotations["com.gaia.mode"] for p in plans}
    assert modes["idle-wait"] == "cpu_preferred" and modes["matmul"] == "cpu_preferred"
