import json

from transformers import AutoConfig, AutoModelForCausalLM

MODEL_ID = "gpt2-xl"
config = AutoConfig.from_pretrained(MODEL_ID)
# Loaded at import so the weights land in the shared cache volume for the generator functions.
model = AutoModelForCausalLM.from_pretrained(MODEL_ID)


def main():
    return json.dumps({"model": MODEL_ID, "layers": config.n_layer, "context": config.n_positions})
