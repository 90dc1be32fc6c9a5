"""The runtime's pure decisions: variant, device and sizing from the environment; GPU per worker."""

from __future__ import annotations

import importlib.util

import pytest

from gaia_faas.runtime_process import TEMPLATE_DIR


@pytest.fixture(scope="module")
def index():
    spec = importlib.util.spec_from_file_location("gaia_template_index", TEMPLATE_DIR / "index.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cpu_variant_defaults(index):
    settings = index.runtime_settings({}, [])
    assert settings == {
        "variant": "cpu", "device": "cpu", "gpu_ids": [], "port": 5000, "workers": 2, "threads": 4,
        "init_timeout": 600, "lock_path": "/tmp/.lock",
    }


def test_gpu_variant_runs_one_worker_per_gpu(index):
    settings = index.runtime_settings({"GAIA_VARIANT": "gpu"}, ["0", "1", "2"])
    assert (settings["device"], settings["workers"], settings["gpu_ids"]) == ("cuda", 3, ["0", "1", "2"])
    assert index.runtime_settings({"GAIA_VARIANT": "gpu", "GAIA_WORKERS": "1"}, ["0", "1"])["workers"] == 1


def test_gpu_variant_without_gpu_needs_the_fallback_switch(index):
    with pytest.raises(index.RuntimeConfigError, match="no CUDA device is visible"):
        index.runtime_settings({"GAIA_VARIANT": "gpu"}, [])
    settings = index.runtime_settings({"GAIA_VARIANT": "gpu", "GAIA_ALLOW_CPU_FALLBACK": "1"}, [])
    assert (settings["variant"], settings["device"], settings["workers"], settings["gpu_ids"]) == ("gpu", "cpu", 1, [])


@pytest.mark.parametrize(
    "environ, message",
    [
        ({"GAIA_VARIANT": "tpu"}, "GAIA_VARIANT must be 'cpu' or 'gpu', got 'tpu'"),
        ({"GAIA_THREADS": "0"}, "GAIA_THREADS must be a positive integer, got '0'"),
        ({"GAIA_PORT": "http"}, "GAIA_PORT must be a positive integer, got 'http'"),
    ],
)
def test_bad_settings_name_the_variable(index, environ, message):
    with pytest.raises(index.RuntimeConfigError, match=message):
        index.runtime_settings(environ, [])


def test_workers_spread_over_gpus(index):
    gpus = ["0", "1"]
    taken = []
    for _ in range(5):
        taken.append(index.least_used_gpu(gpus, taken))
    assert taken == ["0", "1", "0", "1", "0"]
    # A replacement worker takes the GPU its predecessor left.
    assert index.least_used_gpu(gpus, ["1", None]) == "0"
