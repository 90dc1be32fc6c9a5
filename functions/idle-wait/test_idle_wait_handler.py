"""idle-wait's handler called directly, the way the gaia-python runtime calls it."""

import importlib
import json
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def load_handler():
    # The runtime imports the folder as package `function`; a uniquely named package keeps relative imports working.
    package = types.ModuleType("idle_wait_function")
    package.__path__ = [str(HERE)]
    sys.modules[package.__name__] = package
    return importlib.import_module("idle_wait_function.handler")


handler = load_handler()
context = types.SimpleNamespace(device="cpu", hostname="localhost")


def call(body: bytes):
    event = types.SimpleNamespace(body=body, headers={}, method="POST", query={}, path="/")
    return handler.handle(event, context)


def test_waits_the_requested_time():
    started = time.perf_counter()
    response = call(b'{"wait_time": 0.3}')
    elapsed = time.perf_counter() - started
    assert response["statusCode"] == 200
    assert response["body"]["wait_time"] == 0.3
    assert 0.3 <= response["body"]["waited_seconds"] <= elapsed < 2.0


def test_zero_wait_is_allowed():
    assert call(b'{"wait_time": 0}')["statusCode"] == 200


def test_does_not_import_torch():
    # A fresh interpreter: this test process may have torch loaded by other tests.
    script = (
        "import importlib, sys, types\n"
        f"package = types.ModuleType('fn'); package.__path__ = [{str(HERE)!r}]; sys.modules['fn'] = package\n"
        "importlib.import_module('fn.handler')\n"
        "print(sorted(name for name in sys.modules if name.split('.')[0] in ('torch', 'numpy')))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "body, message",
    [
        (b"", "body must be JSON"),
        (b"{not json", "body must be JSON"),
        (b"\xff\xfe", "body must be JSON"),
        (b"[0.5]", "JSON object"),
        (b"{}", 'missing field "wait_time"'),
        (b'{"wait_time": "1"}', "must be a number"),
        (b'{"wait_time": true}', "must be a number"),
        (b'{"wait_time": -1}', "between 0 and 20"),
        (b'{"wait_time": 20.5}', "between 0 and 20"),
        (b'{"wait_time": NaN}', "between 0 and 20"),
        (b'{"wait_time": Infinity}', "between 0 and 20"),
    ],
)
def test_bad_input_is_a_400_with_a_message(body, message):
    started = time.perf_counter()
    response = call(body)
    assert response["statusCode"] == 400
    assert message in response["body"]["error"]
    assert time.perf_counter() - started < 1.0
    json.dumps(response["body"])
