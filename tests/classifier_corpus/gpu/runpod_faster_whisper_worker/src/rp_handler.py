import base64
import tempfile

import runpod
from runpod.serverless.utils import download_files_from_urls, rp_cleanup
from runpod.serverless.utils.rp_validator import validate

import predict
from rp_schema import INPUT_VALIDATIONS

MODEL = predict.Predictor()
MODEL.setup()


def run_whisper_job(job):
    job_input = job["input"]
    checked = validate(job_input, INPUT_VALIDATIONS)
    if "errors" in checked:
        return {"error": checked["errors"]}
    audio = download_files_from_urls(job["id"], [job_input["audio"]])[0]
    result = MODEL.predict(audio=audio, model_name=job_input.get("model", "large-v3"),
                           beam_size=job_input.get("beam_size", 5))
    rp_cleanup.clean(["input_objects"])
    return result


runpod.serverless.start({"handler": run_whisper_job})
