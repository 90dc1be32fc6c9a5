import os
import subprocess

import runpod
import yaml

BASE_CONFIG = "/workspace/configs/lora-8b.yml"


def finetune(job):
    spec = job["input"]
    with open(BASE_CONFIG) as f:
        config = yaml.safe_load(f)
    config["datasets"] = [{"path": spec["dataset"], "type": "alpaca"}]
    config["num_epochs"] = spec.get("epochs", 1)
    run_config = f"/tmp/{job['id']}.yml"
    with open(run_config, "w") as f:
        yaml.safe_dump(config, f)
    completed = subprocess.run(["axolotl", "train", run_config], capture_output=True, text=True,
                               env={**os.environ, "WANDB_MODE": "offline"})
    if completed.returncode != 0:
        return {"error": completed.stderr[-2000:]}
    return {"output_dir": config.get("output_dir", "./outputs")}


runpod.serverless.start({"handler": finetune})
