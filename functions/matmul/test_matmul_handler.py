"""matmul's handler called directly, the way the gaia-python runtime calls it."""

import importlib
import sys
import types
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def load_handler():
    # The runtime imports the folder as package `function`; a uniquely named package keeps relative imports working.
    package = types.ModuleType("matmul_function")
    package.__path__ = [str(HERE)]
    sys.modules[package.__name__] = package
    return importlib.import_module("matmul_function.handler")


handler = load_handler()
context = types.SimpleNamespace(device="cpu", hostname="localhost")


@pytest.fixture(scope="module", autouse=True)
def initialised():
    handler.init(context)


def call(body: bytes):
    event = types.SimpleNamespace(body=body, headers={}, method="POST", query={}, path="/")
    return handler.handle(event, context)


@pytest.mark.parametrize("size", [1, 64, 300])
def test_multiplies_on_the_context_device(size):
    response = call(f'{{"matrix_size": {size}}}'.encode())
    assert response["statusCode"] == 200
    body = response["body"]
    assert body["matrix_size"] == size
    assert body["device"] == "cpu"
    assert body["matmul_ms"] > 0
    assert body["gflops"] > 0


def test_gflops_is_the_products_work_over_its_time():
    body = call(b'{"matrix_size": 512}')["body"]
    assert body["gflops"] == pytest.approx(2 * 512**3 / (body["matmul_ms"] / 1000) / 1e9)


def test_init_uses_the_device_it_is_given():
    assert handler.device.type == context.device


@pytest.mark.parametrize(
    "body, message",
    [
        (b"", "body must be JSON"),
        (b"matrix_size=10", "body must be JSON"),
        (b'"1024"', "JSON object"),
        (b'{"size": 1024}', 'missing field "matrix_size"'),
        (b'{"matrix_size": 10.5}', "must be an integer"),
        (b'{"matrix_size": "10"}', "must be an integer"),
        (b'{"matrix_size": null}', "must be an integer"),
        (b'{"matrix_size": false}', "must be an integer"),
        (b'{"matrix_size": 0}', "between 1 and 8192"),
        (b'{"matrix_size": 8193}', "between 1 and 8192"),
        (b'{"matrix_size": 100000000}', "between 1 and 8192"),
    ],
)
def test_bad_input_is_a_400_with_a_message(body, message):
    response = call(body)
    assert response["statusCode"] == 400
    assert message in response["body"]["error"]
