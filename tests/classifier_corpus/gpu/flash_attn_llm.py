import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

name = "Qwen/Qwen2-1.5B-Instruct"
tokenizer = AutoTokenizer.from_pretrained(name)
model = AutoModelForCausalLM.from_pretrained(
    name, torch_dtype=torch.bfloat16, attn_implementation="flash_attention_2", device_map="auto"
)


def handle(req):
    inputs = tokenizer(req, return_tensors="pt").to(model.device)
    out = model.generate(**inputs, max_new_tokens=128)
    return tokenizer.decode(out[0], skip_special_tokens=True)
