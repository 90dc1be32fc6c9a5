import torch
import transformers

model_id = "meta-llama/Llama-2-7b-chat-hf"
generator = transformers.pipeline(
    "text-generation",
    model=model_id,
    torch_dtype=torch.float16,
    device_map="auto",
)


def handle(event, context):
    prompt = event.body.decode()
    result = generator(prompt, max_new_tokens=256, do_sample=True, top_k=10)
    return {"statusCode": 200, "body": result[0]["generated_text"]}
