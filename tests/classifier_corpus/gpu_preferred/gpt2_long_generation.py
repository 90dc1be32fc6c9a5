import os

from transformers import GPT2LMHeadModel, GPT2TokenizerFast

MAX_NEW = int(os.getenv("MAX_NEW_TOKENS", "512"))
tokenizer = GPT2TokenizerFast.from_pretrained("gpt2")
model = GPT2LMHeadModel.from_pretrained("gpt2")


def handle(req):
    ids = tokenizer(req, return_tensors="pt").input_ids
    story = model.generate(ids, max_new_tokens=MAX_NEW, do_sample=True, top_p=0.95)
    return tokenizer.decode(story[0])
