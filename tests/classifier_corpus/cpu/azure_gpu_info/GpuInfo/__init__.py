import json
import platform

import azure.functions as func
import torch


def main(req: func.HttpRequest) -> func.HttpResponse:
    info = {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda}
    if torch.cuda.is_available():
        info["device"] = torch.cuda.get_device_name(0)
        info["count"] = torch.cuda.device_count()
        info["capability"] = torch.cuda.get_device_capability(0)
    else:
        info["device"] = "cpu"
    return func.HttpResponse(json.dumps(info), mimetype="application/json")
