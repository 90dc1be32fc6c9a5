import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig

model_id = "mistralai/Mistral-7B-Instruct-v0.2"
quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_compute_dtype=torch.float16)
tokenizer = AutoTokenizer.from_pretrained(model_id)
model = AutoModelForCausalLM.from_pretrained(model_id, quantization_config=quant, device_map="auto")


def handle(req):
    messages = [{"role": "user", "content": req}]
    inputs = tokenizer.apply_chat_template(messages, return_tensors="pt").to(model.device)
    output = model.generate(inputs, max_new_tokens=200)
    return tokenizer.decode(output[0][inputs.shape[-1]:], skip_special_tokens=True)
