import json
import shutil
import subprocess
import tempfile
import urllib.request


def require_gpu():
    if shutil.which("nvidia-smi") is None:
        raise RuntimeError("no NVIDIA driver on this node")
    subprocess.run(["nvidia-smi", "-L"], check=True, capture_output=True)


require_gpu()


def handler(event, context):
    request = json.loads(event["body"])
    with tempfile.TemporaryDirectory() as work:
        source = f"{work}/in.mp4"
        urllib.request.urlretrieve(request["url"], source)
        target = f"{work}/out.mp4"
        subprocess.run(["ffmpeg", "-hwaccel", "cuda", "-i", source, "-c:v", "h264_nvenc", "-preset", "p4", target],
                       check=True)
        return {"statusCode": 200, "body": json.dumps({"bytes": len(open(target, "rb").read())})}
