"""llm's handler called directly on a tiny random Llama saved to disk and loaded through MODEL_ID."""

import importlib
import json
import os
import sys
import types
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def load_module(name: str):
    # The runtime imports the folder as package `function`; a uniquely named package keeps relative imports working.
    package = types.ModuleType("llm_function")
    package.__path__ = [str(HERE)]
    sys.modules[package.__name__] = package
    return importlib.import_module(f"llm_function.{name}")


handler = load_module("handler")
tiny_model = load_module("tiny_model")
context = types.SimpleNamespace(device="cpu", hostname="localhost")


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """The handler initialised from a tiny model folder, with the Hub switched off."""
    model_dir = tiny_model.save_tiny_model(tmp_path_factory.mktemp("tiny-llama"))
    saved = {name: os.environ.get(name) for name in ("MODEL_ID", "HF_HUB_OFFLINE")}
    os.environ.update(MODEL_ID=str(model_dir), HF_HUB_OFFLINE="1")
    try:
        handler.init(context)
        yield model_dir
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def call(body):
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    event = types.SimpleNamespace(body=payload, headers={}, method="POST", query={}, path="/")
    return handler.handle(event, context)


def test_generates_from_the_chat_template(loaded):
    response = call({"prompt": "Hello, how are you?", "max_new_tokens": 12})
    assert response["statusCode"] == 200
    body = response["body"]
    expected_input = "<|user|>\nHello, how are you?</s>\n<|assistant|>\n"
    assert handler.chat_text("Hello, how are you?") == expected_input
    assert body["prompt_tokens"] == len(handler.tokenizer(expected_input, add_special_tokens=False)["input_ids"])
    assert 1 <= body["completion_tokens"] <= 12
    assert isinstance(body["completion"], str)
    assert body["model"] == str(loaded) and body["device"] == "cpu" and body["generate_ms"] > 0


def test_greedy_generation_is_repeatable(loaded):
    first = call({"prompt": "What is the capital of France?", "max_new_tokens": 8})["body"]
    second = call({"prompt": "What is the capital of France?", "max_new_tokens": 8})["body"]
    assert first["completion"] == second["completion"]


def test_max_new_tokens_defaults_and_bounds_generation(loaded):
    body = call({"prompt": "Tell me about GPUs."})["body"]
    assert body["completion_tokens"] <= handler.DEFAULT_MAX_NEW_TOKENS
    assert call({"prompt": "Hi", "max_new_tokens": 1})["body"]["completion_tokens"] == 1


def test_prompt_longer_than_the_context_is_a_400(loaded):
    # The tiny model's context is 256 tokens; unknown characters cost at least one token each.
    response = call({"prompt": "x" * 300, "max_new_tokens": 10})
    assert response["statusCode"] == 400
    assert "exceeds the model's context of 256 tokens" in response["body"]["error"]


def test_without_a_chat_template_the_prompt_is_used_as_is(loaded, monkeypatch):
    monkeypatch.setattr(handler.tokenizer, "chat_template", None)
    assert handler.chat_text("plain prompt") == "plain prompt"
    response = call({"prompt": "plain prompt", "max_new_tokens": 3})
    # Without a template the tokenizer adds its own <s>, as Llama's does.
    assert response["body"]["prompt_tokens"] == len(handler.tokenizer("plain prompt")["input_ids"])


def test_offline_and_absent_model_fails_init_clearly(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("MODEL_ID", str(tmp_path / "no-such-model"))
    with pytest.raises(OSError, match="no-such-model"):
        handler.init(context)


@pytest.mark.parametrize(
    "body, message",
    [
        (b"", "body must be JSON"),
        (b"hello", "body must be JSON"),
        (b'"hello"', "JSON object"),
        (b'{"text": "hello"}', 'missing field "prompt"'),
        (b'{"prompt": ""}', "non-empty string"),
        (b'{"prompt": ["hello"]}', "non-empty string"),
        (json.dumps({"prompt": "x" * 8001}).encode(), "at most 8000"),
        (b'{"prompt": "hi", "max_new_tokens": "5"}', "must be an integer"),
        (b'{"prompt": "hi", "max_new_tokens": 0}', "between 1 and 256"),
        (b'{"prompt": "hi", "max_new_tokens": 257}', "between 1 and 256"),
    ],
)
def test_bad_input_is_a_400_with_a_message(loaded, body, message):
    response = call(body)
    assert response["statusCode"] == 400
    assert message in response["body"]["error"]
