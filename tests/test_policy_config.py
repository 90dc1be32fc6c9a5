"""com.gaia.* annotations -> ControllerConfig: documented defaults, strict parsing, clear errors."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from gaia_faas.gateway_plugin.controller_config import ANNOTATIONS, ConfigError, ControllerConfig

DOCS = Path(__file__).resolve().parents[1] / "docs" / "controller.md"


def test_defaults_without_annotations():
    config = ControllerConfig.from_annotations({})
    assert config == ControllerConfig()
    assert (config.mode, config.slo_percentile, config.slo_ms) == ("cpu_preferred", 95.0, None)
    assert (config.price_cpu, config.price_gpu, config.interval_s) == (0.000038, 0.000133, 1.0)
    assert ControllerConfig.from_annotations(None) == ControllerConfig()


def test_annotations_are_parsed():
    config = ControllerConfig.from_annotations({
        "com.gaia.mode": "gpu_preferred", "com.gaia.slo-ms": "750", "com.gaia.slo-percentile": "99",
        "com.gaia.min-samples": "5", "com.gaia.max-switches-per-hour": "4", "com.gaia.gpu-margin": "0.3",
        "com.gaia.price-gpu": "0.0002", "com.gaia.rationale": "ignored: not a controller knob",
        "com.openfaas.scale.min": "1",
    })
    assert config.mode == "gpu_preferred" and config.slo_ms == 750.0 and config.slo_percentile == 99.0
    assert config.min_samples == 5 and config.max_switches_per_hour == 4
    assert config.gpu_margin == 0.3 and config.price_gpu == 0.0002


def test_blank_values_mean_the_default():
    assert ControllerConfig.from_annotations({"com.gaia.slo-ms": " "}).slo_ms is None


@pytest.mark.parametrize(("annotation", "value", "message"), [
    ("com.gaia.mode", "fast", "is not one of cpu, cpu_preferred, gpu_preferred, gpu"),
    ("com.gaia.slo-ms", "1s", "is not a number"),
    ("com.gaia.slo-ms", "0", "out of range"),
    ("com.gaia.slo-ms", "nan", "out of range"),
    ("com.gaia.slo-percentile", "101", "out of range"),
    ("com.gaia.min-samples", "2.5", "is not a whole number"),
    ("com.gaia.max-switches-per-hour", "1", "out of range"),
    ("com.gaia.gpu-margin", "-0.1", "out of range"),
    ("com.gaia.price-cpu", "-1", "out of range"),
])
def test_bad_values_name_the_annotation(annotation, value, message):
    with pytest.raises(ConfigError) as error:
        ControllerConfig.from_annotations({annotation: value})
    assert annotation in str(error.value) and message in str(error.value)


def test_cross_field_rule():
    with pytest.raises(ConfigError, match="com.gaia.backoff-max-seconds"):
        ControllerConfig.from_annotations({"com.gaia.backoff-seconds": "900", "com.gaia.backoff-max-seconds": "60"})


def test_every_field_has_an_annotation_documented_in_docs_controller_md():
    names = {f.name for f in dataclasses.fields(ControllerConfig)}
    assert names == set(ANNOTATIONS)
    text = DOCS.read_text()
    missing = [a for a in ANNOTATIONS.values() if f"`{a}`" not in text]
    assert not missing, f"not documented in docs/controller.md: {missing}"
