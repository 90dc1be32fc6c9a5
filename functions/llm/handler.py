"""llm: chat completion with TinyLlama (or any causal LM) through transformers.

Request: {"prompt": "...", "max_new_tokens": 64}. MODEL_ID names a Hugging Face model id or a local folder
saved with save_pretrained (default TinyLlama/TinyLlama-1.1B-Chat-v1.0). With HF_HUB_OFFLINE=1 only local
files are used. Decoding is greedy, so one prompt always gives the same completion on one device.
"""

import json
import os
import time

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

DEFAULT_MODEL_ID = "TinyLlama/TinyLlama-1.1B-Chat-v1.0"
DEFAULT_MAX_NEW_TOKENS = 64
# A chat answer of a few paragraphs; generation time grows linearly with it, and on CPU TinyLlama makes a few
# tokens per second, so this keeps a request under of-watchdog's default 30 s exec_timeout only on a GPU.
MAX_NEW_TOKENS = 256
MAX_PROMPT_CHARS = 8000

model_id = None
tokenizer = None
model = None
device = None


class BadRequest(ValueError):
    """The request cannot be served as sent; the message tells the caller what to change."""


def parse_request(body: bytes) -> tuple[str, int]:
    try:
        request = json.loads(body or b"")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(f'body must be JSON like {{"prompt": "Hello", "max_new_tokens": 32}} ({exc})') from None
    if not isinstance(request, dict):
        raise BadRequest('body must be a JSON object like {"prompt": "Hello", "max_new_tokens": 32}')
    if "prompt" not in request:
        raise BadRequest('missing field "prompt" (the user message, a string)')
    prompt = request["prompt"]
    if not isinstance(prompt, str) or not prompt.strip():
        raise BadRequest('"prompt" must be a non-empty string')
    if len(prompt) > MAX_PROMPT_CHARS:
        raise BadRequest(f'"prompt" is {len(prompt)} characters; at most {MAX_PROMPT_CHARS} are accepted')
    max_new_tokens = request.get("max_new_tokens", DEFAULT_MAX_NEW_TOKENS)
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int):
        raise BadRequest(f'"max_new_tokens" must be an integer, got {json.dumps(max_new_tokens)}')
    if not 1 <= max_new_tokens <= MAX_NEW_TOKENS:
        raise BadRequest(f'"max_new_tokens" must be between 1 and {MAX_NEW_TOKENS}, got {max_new_tokens}')
    return prompt, max_new_tokens


def chat_text(prompt: str) -> str:
    """The model's input text: the prompt as one user turn of the tokenizer's chat template, if it has one."""
    if tokenizer.chat_template:
        messages = [{"role": "user", "content": prompt}]
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return prompt


def init(context):
    global model_id, tokenizer, model, device
    name = os.environ.get("MODEL_ID", DEFAULT_MODEL_ID)
    target = torch.device(context.device)
    loaded_tokenizer = AutoTokenizer.from_pretrained(name)
    # Half precision halves GPU memory and time; CPUs are slow at float16, so they keep float32.
    dtype = torch.float16 if target.type == "cuda" else torch.float32
    loaded_model = AutoModelForCausalLM.from_pretrained(name, dtype=dtype).to(target).eval()
    model_id, device, tokenizer, model = name, target, loaded_tokenizer, loaded_model


def handle(event, context):
    try:
        prompt, max_new_tokens = parse_request(event.body)
    except BadRequest as exc:
        return {"statusCode": 400, "body": {"error": str(exc)}}
    # A chat template writes the special tokens it wants itself; like transformers' apply_chat_template(tokenize=True),
    # the tokenizer then adds none of its own.
    inputs = tokenizer(chat_text(prompt), return_tensors="pt", add_special_tokens=not tokenizer.chat_template).to(device)
    prompt_tokens = inputs["input_ids"].shape[1]
    # Llama-family configs name their context max_position_embeddings; a model without it is not checked here.
    context_length = getattr(model.config, "max_position_embeddings", None)
    if context_length is not None and prompt_tokens + max_new_tokens > context_length:
        message = (f"prompt ({prompt_tokens} tokens) plus max_new_tokens ({max_new_tokens}) exceeds the model's "
                   f"context of {context_length} tokens")
        return {"statusCode": 400, "body": {"error": message}}
    started = time.perf_counter()
    with torch.inference_mode():
        output = model.generate(
            **inputs,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id,
        )
    seconds = time.perf_counter() - started
    new_tokens = output[0, prompt_tokens:]
    return {
        "statusCode": 200,
        "body": {
            "completion": tokenizer.decode(new_tokens, skip_special_tokens=True),
            "prompt_tokens": prompt_tokens,
            "completion_tokens": int(new_tokens.shape[0]),
            "model": model_id,
            "device": device.type,
            "generate_ms": seconds * 1000,
        },
    }
