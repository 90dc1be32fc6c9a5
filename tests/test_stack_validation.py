"""`gaia stack` refuses invalid input with a message naming the field, and never a traceback."""

from __future__ import annotations

import pytest
import yaml

from gaia_faas.cli import main
from gaia_faas.stack import StackError, expand_stack, variant_image

HANDLER = "def handle(event, context):\n    return 'ok'\n"


def function(**fields):
    return {"lang": "gaia-python", "handler": "./fn", "image": "reg/fn:1", **fields}


@pytest.fixture
def base(tmp_path):
    (tmp_path / "fn").mkdir()
    (tmp_path / "fn" / "handler.py").write_text(HANDLER)
    return tmp_path


@pytest.mark.parametrize(
    "functions, message",
    [
        ({"fn": function(handler="./missing")}, r"functions\.fn\.handler: folder \./missing not found"),
        ({"fn": function(handler=None)}, r"functions\.fn\.handler must name the handler folder"),
        ({"fn": function(image=None)}, r"functions\.fn\.image must be an image reference"),
        ({"fn": function(image="reg/fn@sha256:abc")}, r"functions\.fn\.image must be a tag, not a digest"),
        ({"fn": function(annotations={"com.gaia.mode": "tpu"})}, r"functions\.fn\.annotations\.com\.gaia\.mode must be one of"),
        ({"fn": function(annotations={"com.gaia.slo-ms": "fast"})}, r"functions\.fn\.annotations\.com\.gaia\.slo-ms must be a number greater than 0, got 'fast'"),
        ({"fn": function(annotations={"com.gaia.slo-ms": -5})}, r"com\.gaia\.slo-ms must be a number greater than 0, got '-5'"),
        ({"fn": function(annotations={"com.gaia.slo-percentile": "100"})}, r"com\.gaia\.slo-percentile must be a number between 0 and 100"),
        ({"fn": function(annotations={"com.gaia.price-cpu": "-1"})}, r"com\.gaia\.price-cpu must be a number"),
        ({"fn": function(annotations={"com.gaia.gpu-idle": "soon"})}, r"com\.gaia\.gpu-idle must be a duration like 15m"),
        ({"fn": function(annotations={"com.gaia.size-from": "json"})},
         r"functions\.fn\.annotations\.com\.gaia\.size-from: 'json' is not one of body-bytes, header:NAME, query:NAME, json:FIELD"),
        ({"fn": function(annotations={"com.gaia.size-from": "header:bad name"})}, r"com\.gaia\.size-from: 'bad name' is not an HTTP header name"),
        ({"fn": function(labels=["a=b"])}, r"functions\.fn\.labels must be a mapping, got list"),
        ({"fn": function(environment={"A": {"nested": 1}})}, r"functions\.fn\.environment\.A must be a string"),
        ({"Fn_1": function()}, r"functions\.Fn_1: the name must be lower-case letters, digits and '-'"),
        ({"f" * 60: function()}, r"at most 59 characters"),
        ({"fn": function(), "fn-cpu": {"lang": "python3-http", "handler": "./x", "image": "x"}},
         r"functions\.fn-cpu already exists and is not a variant of functions\.fn"),
        ({"fn": "not a mapping"}, r"functions\.fn must be a mapping"),
        ({}, r"functions must be a mapping of function names to entries"),
    ],
)
def test_invalid_functions_are_refused_naming_the_field(base, functions, message):
    stack = {"version": "1.0", "provider": {"name": "openfaas"}, "functions": functions}
    with pytest.raises(StackError, match=message):
        expand_stack(stack, base)


def test_provider_must_be_openfaas(base):
    with pytest.raises(StackError, match="provider.name must be openfaas, got 'faasd'"):
        expand_stack({"provider": {"name": "faasd"}, "functions": {"fn": function()}}, base)


def test_a_generated_variant_with_a_foreign_name_is_refused(base):
    stack = {"functions": {"other": function(labels={"com.gaia.variant": "gpu", "com.gaia.function": "fn"},
                                             annotations={"com.gaia.mode": "gpu"})}}
    with pytest.raises(StackError, match=r"functions\.other: a generated variant must be named"):
        expand_stack(stack, base)


def test_size_from_is_copied_to_both_variants(base):
    stack = {"functions": {"fn": function(annotations={"com.gaia.size-from": "json:tokens", "com.gaia.mode": "cpu_preferred"})}}
    expansion = expand_stack(stack, base)
    assert expansion.warnings == []
    for variant in ("fn-cpu", "fn-gpu"):
        assert expansion.stack["functions"][variant]["annotations"]["com.gaia.size-from"] == "json:tokens"


def test_numbers_in_annotations_are_accepted_and_written_as_strings(base):
    stack = {"functions": {"fn": function(annotations={"com.gaia.slo-ms": 250, "com.gaia.price-cpu": 0})}}
    entry = expand_stack(stack, base).stack["functions"]["fn-cpu"]
    assert entry["annotations"]["com.gaia.slo-ms"] == "250"
    assert entry["annotations"]["com.gaia.price-cpu"] == "0"


def test_variant_image_names():
    assert variant_image("reg:5000/team/fn:1.2", "gpu", "functions.fn") == "reg:5000/team/fn-gpu:1.2"
    assert variant_image("reg:5000/fn", "cpu", "functions.fn") == "reg:5000/fn-cpu"
    assert variant_image("fn:latest", "cpu", "functions.fn") == "fn-cpu:latest"


def test_cli_reports_bad_input_on_stderr_with_exit_2(base, capsys):
    stack_file = base / "stack.yml"
    stack_file.write_text(yaml.safe_dump({"functions": {"fn": function(annotations={"com.gaia.mode": "fast"})}}))
    assert main(["stack", "-f", str(stack_file)]) == 2
    err = capsys.readouterr().err
    assert "functions.fn.annotations.com.gaia.mode must be one of cpu, cpu_preferred, gpu_preferred, gpu" in err
    assert "Traceback" not in err
    assert not (base / "gaia-stack.yml").exists()


def test_cli_reports_unreadable_and_invalid_files(base, capsys):
    assert main(["stack", "-f", str(base / "absent.yml")]) == 2
    assert "cannot read" in capsys.readouterr().err
    broken = base / "broken.yml"
    broken.write_text("functions: [unclosed\n")
    assert main(["stack", "-f", str(broken)]) == 2
    assert "is not valid YAML" in capsys.readouterr().err
    listed = base / "list.yml"
    listed.write_text("- a\n- b\n")
    assert main(["stack", "-f", str(listed)]) == 2
    assert "must be a mapping with a functions: section" in capsys.readouterr().err


def test_stdout_output(base, capsys):
    stack_file = base / "stack.yml"
    stack_file.write_text(yaml.safe_dump({"functions": {"fn": function()}}))
    assert main(["stack", "-f", str(stack_file), "-o", "-"]) == 0
    out = yaml.safe_load(capsys.readouterr().out)
    assert list(out["functions"]) == ["fn-cpu"]


def test_cli_notes_when_the_variants_exceed_openfaas_ce_limit(base, capsys):
    stack_file = base / "stack.yml"
    functions = {f"fn{i}": function(annotations={"com.gaia.mode": "gpu_preferred"}) for i in range(8)}
    stack_file.write_text(yaml.safe_dump({"functions": functions}))
    assert main(["stack", "-f", str(stack_file)]) == 0
    assert "note: 16 functions; OpenFaaS CE deploys at most 15" in capsys.readouterr().err
    functions.pop("fn7")
    stack_file.write_text(yaml.safe_dump({"functions": functions}))
    assert main(["stack", "-f", str(stack_file)]) == 0
    assert "deploys at most" not in capsys.readouterr().err


def test_cli_reports_an_unwritable_output_and_a_bad_profile_name(base, capsys):
    stack_file = base / "stack.yml"
    stack_file.write_text(yaml.safe_dump({"functions": {"fn": function()}}))
    assert main(["stack", "-f", str(stack_file), "-o", str(base / "no" / "such" / "dir.yml")]) == 2
    assert "cannot write" in capsys.readouterr().err
    assert main(["stack", "-f", str(stack_file), "--gpu-profile", "gpu,spot"]) == 2
    assert "--gpu-profile must be a Profile name" in capsys.readouterr().err
