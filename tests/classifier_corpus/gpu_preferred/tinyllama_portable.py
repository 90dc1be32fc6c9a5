import json

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

CHECKPOINT = "TinyLlama/TinyLlama-1.1B-Chat-v1.0"
device = "cuda" if torch.cuda.is_available() else "cpu"

tokenizer = AutoTokenizer.from_pretrained(CHECKPOINT)
model = AutoModelForCausalLM.from_pretrained(CHECKPOINT).to(device)


def handle(req):
    prompt = json.loads(req)["prompt"]
    chat = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True)
    inputs = tokenizer(chat, return_tensors="pt").to(device)
    output = model.generate(**inputs, max_new_tokens=128, do_sample=True, temperature=0.7)
    return tokenizer.decode(output[0], skip_special_tokens=True)
