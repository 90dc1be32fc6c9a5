from transformers import AutoModelForCausalLM, AutoTokenizer

tok = AutoTokenizer.from_pretrained("gpt2")
lm = AutoModelForCausalLM.from_pretrained("gpt2", device_map="cuda")


def handle(req):
    ids = tok(req, return_tensors="pt").input_ids.to(lm.device)
    out = lm.generate(ids, max_new_tokens=40, do_sample=True)
    return tok.decode(out[0], skip_special_tokens=True)
