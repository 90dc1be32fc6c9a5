import json
import re
import subprocess

BINARY = "/opt/cuda-samples/bin/x86_64/linux/release/nbody"


def handle(event, context):
    params = json.loads(event.body or "{}")
    bodies = int(params.get("bodies", 65536))
    out = subprocess.check_output([BINARY, "-benchmark", f"-numbodies={bodies}"], text=True, timeout=120)
    match = re.search(r"([\d.]+) single-precision GFLOP/s", out)
    return {"statusCode": 200, "body": json.dumps({"gflops": float(match.group(1)) if match else None})}
