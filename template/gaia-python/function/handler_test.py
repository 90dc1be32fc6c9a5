"""Run with `python -m pytest` in the handler folder (the image build does not run tests)."""

from types import SimpleNamespace

from handler import handle, init


def test_handle_reports_device_and_body_length():
    context = SimpleNamespace(device="cpu", variant="cpu", hostname="localhost")
    init(context)
    event = SimpleNamespace(body=b"hello", headers={}, method="POST", query={}, path="/")

    result = handle(event, context)

    assert result["statusCode"] == 200
    assert result["body"] == {"device": "cpu", "length": 5}
