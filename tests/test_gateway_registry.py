"""Function registry: the static routes file, OpenFaaS discovery parsing, and the pure request-target rules."""

from __future__ import annotations

import pytest

from gaia_faas.gateway_plugin.proxy import BadTarget, Rotation, is_platform_fault, parse_target
from gaia_faas.gateway_plugin.registry import RegistryError, load_static_routes, parse_openfaas_functions, parse_static_routes


def test_static_routes_file(tmp_path):
    path = tmp_path / "routes.yml"
    path.write_text("""
functions:
  matmul:
    variants:
      cpu: http://127.0.0.1:18001
      gpu: http://127.0.0.1:18002/
    annotations:
      com.gaia.mode: gpu_preferred
      com.gaia.slo-ms: "1000"
      unrelated: dropped
""")
    spec = load_static_routes(path)["matmul"]
    assert spec.variants["gpu"].sync_url == "http://127.0.0.1:18002" and spec.variants["gpu"].async_url is None
    assert spec.annotations == {"com.gaia.mode": "gpu_preferred", "com.gaia.slo-ms": "1000"}
    assert spec.start_variant == "gpu" and spec.other_variant("gpu") == "cpu"


@pytest.mark.parametrize("document, message", [
    (None, "top-level 'functions:'"),
    ({"functions": []}, "top-level 'functions:'"),
    ({"functions": {"../x": {"variants": {"cpu": "http://a"}}}}, "not a DNS label"),
    ({"functions": {"f": {}}}, "needs 'variants:'"),
    ({"functions": {"f": {"variants": {"tpu": "http://a"}}}}, "unknown variant 'tpu'"),
    ({"functions": {"f": {"variants": {"cpu": "ftp://a"}}}}, "needs an http(s) URL"),
    ({"functions": {"f": {"variants": {"cpu": "http://user:pw@a:8080/x"}}}}, "must not carry credentials"),
    ({"functions": {"f": {"variants": {"cpu": "http://a"}, "annotations": ["x"]}}}, "must be a mapping"),
])
def test_static_routes_errors_say_what_is_wrong(document, message):
    with pytest.raises(RegistryError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_static_routes(document)


def test_static_routes_unreadable_or_not_yaml(tmp_path):
    with pytest.raises(RegistryError, match="cannot read routes file"):
        load_static_routes(tmp_path / "nope.yml")
    bad = tmp_path / "bad.yml"
    bad.write_text("functions: [unclosed\n")
    with pytest.raises(RegistryError, match="not valid YAML"):
        load_static_routes(bad)


def test_openfaas_discovery_groups_variants_by_labels():
    functions = parse_openfaas_functions([
        {"name": "resnet-gpu", "labels": {"com.gaia.function": "resnet", "com.gaia.variant": "gpu"},
         "annotations": {"com.gaia.mode": "gpu", "com.openfaas.profile": "gpu"}},
        {"name": "resnet-cpu", "labels": {"com.gaia.function": "resnet", "com.gaia.variant": "cpu"}, "annotations": None},
        {"name": "plain", "labels": {"faas_function": "plain"}},
        {"name": "odd", "labels": {"com.gaia.function": "odd", "com.gaia.variant": "tpu"}},
        {"name": "Bad_Name", "labels": {"com.gaia.function": "x", "com.gaia.variant": "cpu"}},
    ], "http://gateway:8080/")
    assert functions.conflicts == []
    functions = functions.functions
    assert list(functions) == ["resnet"]
    resnet = functions["resnet"]
    assert resnet.variants["gpu"].sync_url == "http://gateway:8080/function/resnet-gpu"
    assert resnet.variants["cpu"].async_url == "http://gateway:8080/async-function/resnet-cpu"
    assert resnet.annotations == {"com.gaia.mode": "gpu"} and resnet.start_variant == "gpu"
    with pytest.raises(RegistryError, match="JSON list"):
        parse_openfaas_functions({"error": "x"}, "http://g")


@pytest.mark.parametrize("answer, message", [
    ([{"name": "f-cpu", "labels": ["com.gaia.function"]}], "'labels' is a list"),
    ([{"name": "f-cpu", "labels": {}, "annotations": "x"}], "'annotations' is a str"),
    (["not an object"], "entry 0 is a str"),
    ([{"name": 7, "labels": {}}], "must be strings"),
    ([{"name": "f-cpu", "namespace": ["x"], "labels": {}}], "must be strings"),
])
def test_openfaas_answer_of_the_wrong_shape_is_a_registry_error(answer, message):
    with pytest.raises(RegistryError, match=message):
        parse_openfaas_functions(answer, "http://g")


def test_duplicate_label_claims_route_to_neither_and_are_reported():
    def claim(service, function, variant, slo):
        return {"name": service, "namespace": "openfaas-fn", "labels": {"com.gaia.function": function, "com.gaia.variant": variant},
                "annotations": {"com.gaia.slo-ms": slo}}

    found = parse_openfaas_functions([claim("matmul-cpu", "matmul", "cpu", "500"), claim("matmul-gpu", "matmul", "gpu", "500"),
                                      claim("evil", "matmul", "gpu", "1")], "http://g")
    matmul = found.functions["matmul"]
    assert list(matmul.variants) == ["cpu"] and matmul.annotations == {"com.gaia.slo-ms": "500"}
    assert matmul.namespace == "openfaas-fn"
    assert found.conflicts == ["matmul/gpu is claimed by 2 services (evil, matmul-gpu): none of them is routed"]
    found = parse_openfaas_functions([claim("a", "x", "cpu", "1"), claim("b", "x", "cpu", "2")], "http://g")
    assert found.functions == {} and len(found.conflicts) == 1


def test_namespaced_names_resolve_with_the_last_dot():
    from gaia_faas.gateway_plugin.registry import Registry

    found = parse_openfaas_functions([{"name": "matmul-cpu", "namespace": "openfaas-fn",
                                       "labels": {"com.gaia.function": "matmul", "com.gaia.variant": "cpu"}}], "http://g")
    registry = Registry(found.functions)
    assert registry.get_namespaced("matmul.openfaas-fn").name == "matmul"
    assert registry.get_namespaced("matmul.other") is None and registry.get_namespaced("matmul") is None
    assert registry.get_namespaced("x.matmul.openfaas-fn") is None  # the name is "x.matmul"
    assert registry.get_namespaced("matmul.") is None


def test_parse_target():
    target = parse_target("/function/matmul/a/b?x=1")
    assert (target.kind, target.name, target.rest, target.query) == ("sync", "matmul", "/a/b", "x=1")
    assert parse_target("/async-function/matmul").rest == ""
    assert parse_target("/function/matmul.openfaas-fn/").name == "matmul.openfaas-fn"
    assert parse_target("/ui/").kind == "passthrough"
    for raw, reason in (("/function/%2E%2e", "dot_segment"), ("/x/./y", "dot_segment"), ("/function/a%2Fb", "encoded_slash"),
                        ("/function/a?x=%00", "nul"), ("*", "absolute_form"), ("/function/a" + "b" * 127, "long_name"),
                        ("/function/a..b", "bad_name"), ("/function/a%41", "bad_name"), ("/function//x", "missing_name")):
        with pytest.raises(BadTarget) as info:
            parse_target(raw)
        assert info.value.reason == reason and info.value.status == 400, raw


def test_platform_fault_classification():
    assert is_platform_fault(502, {})  # the gateway's own 502: no watchdog timing header
    assert not is_platform_fault(502, {"X-Duration-Seconds": "0.1"})  # a handler that answered 502
    assert is_platform_fault(503, {"X-OpenFaaS-Internal": "proxy"})
    assert is_platform_fault(500, {"X-OpenFaaS-Internal": "proxy"})
    assert is_platform_fault(500, {"X-OpenFaaS-Internal": "of-watchdog"})
    assert not is_platform_fault(504, {"X-OpenFaaS-Internal": "of-watchdog"})  # exec_timeout: the function was slow
    assert not is_platform_fault(500, {"X-Duration-Seconds": "0.1"})
    assert not is_platform_fault(429, {"X-OpenFaaS-Internal": "faas-middleware"})


def test_rotation_takes_variant_out_until_a_probe_brings_it_back():
    now = [100.0]
    rotation = Rotation(retry_after_s=1.0, clock=lambda: now[0])
    assert rotation.choose("f", "gpu", "cpu") == ("gpu", None)
    rotation.fault("f", "gpu")
    assert rotation.choose("f", "gpu", "cpu") == ("cpu", "gpu")
    assert rotation.choose("f", "gpu", None) == ("gpu", None)  # nowhere else to go
    assert rotation.due() == []
    now[0] = 101.0
    # Past retry_after no client call is sent as a probe: the prober gets the variant, calls still fail over.
    assert rotation.due() == [("f", "gpu")] and rotation.due() == []
    assert rotation.choose("f", "gpu", "cpu") == ("cpu", "gpu")
    now[0] = 102.0
    assert rotation.due() == [("f", "gpu")]  # the probe failed: due again retry_after later
    rotation.ok("f", "gpu")
    assert rotation.choose("f", "gpu", "cpu") == ("gpu", None) and rotation.out_of_rotation() == []
    rotation.fault("f", "gpu")
    rotation.fault("f", "cpu")
    assert rotation.choose("f", "gpu", "cpu") == ("gpu", None)  # both out: stay on the routed one


def test_plugin_paths_are_recognised_however_spelt():
    from gaia_faas.gateway_plugin.proxy import is_plugin_path

    for path in ("/gaia/v1/functions/x/pin", "/gaia", "//gaia/v1", "/%67aia/v1/health", "/GAIA/v1", "/metrics"):
        assert is_plugin_path(path), path
    for path in ("/gaiaX", "/function/gaia", "/system/functions", "/metricsx"):
        assert not is_plugin_path(path), path


def test_routes_file_is_parsed_again_only_when_it_changed(tmp_path):
    """Every refresh used to parse the whole routes file on the event loop (511 ms for 1,000 functions in
    pure-Python YAML); now an unchanged file (same modification time, size and inode) is not read again."""
    import asyncio
    import os

    from gaia_faas.gateway_plugin.app import GatewayConfig, GatewayState, refresh_registry
    from gaia_faas.gateway_plugin.metrics import Metrics
    from gaia_faas.gateway_plugin.registry import Registry, file_stamp, parse_yaml

    path = tmp_path / "routes.yml"
    path.write_text("functions:\n  a:\n    variants: {cpu: 'http://127.0.0.1:1'}\n")
    assert parse_yaml(path.read_text()) == {"functions": {"a": {"variants": {"cpu": "http://127.0.0.1:1"}}}}
    config = GatewayConfig(redis_url="redis://127.0.0.1:1", routes_file=str(path))
    state = GatewayState(config=config, metrics=Metrics(), registry=Registry(), rotation=Rotation(1.0))
    asyncio.run(refresh_registry(state))
    assert state.registry.names() == ["a"] and state.routes_file_stamp == file_stamp(path)
    before = os.stat(path)
    path.write_text("functions:\n  b:\n    variants: {cpu: 'http://127.0.0.1:1'}\n")  # same size
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # and the same stamp: taken as unchanged
    asyncio.run(refresh_registry(state))
    assert state.registry.names() == ["a"]
    os.utime(path)  # written again: read again
    asyncio.run(refresh_registry(state))
    assert state.registry.names() == ["b"]
    path.write_text("functions: [unclosed\n")  # a broken file keeps the last registry and says why, every time
    asyncio.run(refresh_registry(state))
    assert state.registry.names() == ["b"] and "not valid YAML" in state.registry_error
    asyncio.run(refresh_registry(state))
    assert "not valid YAML" in state.registry_error


def test_a_refreshed_registry_keeps_the_specs_that_did_not_change():
    from gaia_faas.gateway_plugin.registry import FunctionSpec, Registry, VariantTarget

    def spec(name, slo):
        return FunctionSpec(name, {"cpu": VariantTarget("cpu", f"http://127.0.0.1:1/{name}")}, {"com.gaia.slo-ms": slo})

    registry = Registry({"a": spec("a", "100"), "b": spec("b", "100")})
    a, b = registry.get("a"), registry.get("b")
    registry.replace({"a": spec("a", "100"), "b": spec("b", "200"), "c": spec("c", "100")})
    assert registry.get("a") is a  # unchanged: the same object (caches keyed on it stay valid)
    assert registry.get("b") is not b and registry.get("b").annotations["com.gaia.slo-ms"] == "200"
    assert registry.names() == ["a", "b", "c"]
    registry.replace({"c": spec("c", "100")})
    assert registry.names() == ["c"]
