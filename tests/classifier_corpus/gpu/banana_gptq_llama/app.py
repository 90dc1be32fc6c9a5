from auto_gptq import AutoGPTQForCausalLM
from potassium import Potassium, Request, Response
from transformers import AutoTokenizer

REPO = "TheBloke/Llama-2-7B-Chat-GPTQ"
app = Potassium("llama2-gptq")


@app.init
def init():
    tokenizer = AutoTokenizer.from_pretrained(REPO, use_fast=True)
    model = AutoGPTQForCausalLM.from_quantized(REPO, use_safetensors=True, device="cuda:0")
    return {"model": model, "tokenizer": tokenizer}


@app.handler("/")
def handler(context: dict, request: Request) -> Response:
    tokenizer, model = context["tokenizer"], context["model"]
    ids = tokenizer(request.json["prompt"], return_tensors="pt").input_ids.to("cuda:0")
    output = model.generate(inputs=ids, max_new_tokens=request.json.get("max_new_tokens", 256), temperature=0.7)
    return Response(json={"text": tokenizer.decode(output[0], skip_special_tokens=True)}, status=200)


if __name__ == "__main__":
    app.serve()
