from vllm import LLM, SamplingParams

llm = LLM(model="mistralai/Mistral-7B-Instruct-v0.2", gpu_memory_utilization=0.9)


def generate(prompt, max_tokens):
    params = SamplingParams(temperature=0.7, max_tokens=max_tokens)
    return llm.generate([prompt], params)[0].outputs[0].text
