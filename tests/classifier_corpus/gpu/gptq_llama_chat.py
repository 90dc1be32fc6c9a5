from transformers import AutoModelForCausalLM, AutoTokenizer, pipeline

MODEL = "TheBloke/Llama-2-7B-Chat-GPTQ"
tokenizer = AutoTokenizer.from_pretrained(MODEL, use_fast=True)
model = AutoModelForCausalLM.from_pretrained(MODEL, device_map="auto", revision="main")
chat = pipeline("text-generation", model=model, tokenizer=tokenizer)


def handle(event, context):
    prompt = f"[INST] {event.body.decode()} [/INST]"
    return {"statusCode": 200, "body": chat(prompt, max_new_tokens=200)[0]["generated_text"]}
