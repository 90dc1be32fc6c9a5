import torch
from potassium import Potassium, Request, Response
from transformers import AutoModelForCausalLM, AutoTokenizer

app = Potassium("dolly")


@app.init
def init():
    name = "databricks/dolly-v2-12b"
    tokenizer = AutoTokenizer.from_pretrained(name, padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(name, torch_dtype=torch.bfloat16, device_map="auto")
    return {"model": model, "tokenizer": tokenizer}


@app.handler()
def handler(context: dict, request: Request) -> Response:
    tokenizer, model = context["tokenizer"], context["model"]
    ids = tokenizer(request.json["prompt"], return_tensors="pt").input_ids.to(model.device)
    out = model.generate(ids, max_new_tokens=request.json.get("max_new_tokens", 100))
    return Response(json={"output": tokenizer.decode(out[0], skip_special_tokens=True)}, status=200)


if __name__ == "__main__":
    app.serve()
