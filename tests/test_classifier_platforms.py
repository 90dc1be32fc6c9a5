"""What the classifier reads beyond one module: platform files, the platform's entry, installed distributions,
programs run through subprocess, and which work counts (device questions, models never run, toy autograd)."""

import textwrap

import pytest

from gaia_faas.classifier import classify_path
from gaia_faas.classifier.installed import Installed
from gaia_faas.classifier.platform import PlatformFacts, read_platform_file, yaml_items

PORTABLE_RESNET = (
    "import torch\nfrom torchvision import models\n"
    "device = 'cuda' if torch.cuda.is_available() else 'cpu'\n"
    "model = models.resnet18(weights=None).to(device).eval()\n"
    "def handle(req):\n    return model(torch.zeros(1, 3, 224, 224, device=device)).argmax().item()\n"
)
PLAIN = "import json\ndef handle(req):\n    return json.dumps({'ok': True})\n"


def classify(tmp_path, files, **options):
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return classify_path(tmp_path, **options)


def kinds(result, mode=None):
    return {e.kind for e in result.evidence if mode is None or e.mode == mode}


def test_yaml_items_follow_indentation_and_list_items():
    items = yaml_items("build:\n  gpu: true  # needs one\n  python_packages:\n    - \"torch==2.1\"\n"
                       "spec:\n  containers:\n    - name: x\n      resources:\n        limits:\n"
                       "          nvidia.com/gpu: \"1\"\nrun: |\n  key: not a key\n")
    assert (2, ("build", "gpu"), "true") in items
    assert (4, ("build", "python_packages", "-"), "torch==2.1") in items
    assert (10, ("spec", "containers", "-", "resources", "limits", "nvidia.com/gpu"), "1") in items
    assert not any(path[-1:] == ("key",) for _, path, _ in items)


@pytest.mark.parametrize(("name", "text", "declared"), [
    ("cog.yaml", "build:\n  gpu: true\npredict: predict.py:Predictor\n", True),
    ("cog.yaml", "build:\n  gpu: false\npredict: predict.py:Predictor\n", False),
    ("isvc.yaml", "spec:\n  predictor:\n    resources:\n      limits:\n        nvidia.com/gpu: 1\n", True),
    ("isvc.yaml", "spec:\n  predictor:\n    resources:\n      limits:\n        nvidia.com/gpu: 0\n", False),
    ("ksvc.yaml", "spec:\n  template:\n    spec:\n      runtimeClassName: nvidia\n", True),
    ("bentofile.yaml", "service: service:svc\ndocker:\n  cuda_version: \"12.1\"\n", True),
    ("stack.yml", "provider:\n  gateway: http://x\nfunctions:\n  f:\n    handler: ./f\n    annotations:\n"
                  "      com.openfaas.profile: withgpu\n", True),
    ("Dockerfile", "FROM nvidia/cuda:12.1.1-runtime-ubuntu22.04\nCMD [\"python\", \"handler.py\"]\n", True),
    ("Dockerfile", "ARG BASE=pytorch/pytorch:2.2.1-cuda12.1-cudnn8-runtime\nFROM ${BASE}\n", True),
    ("Dockerfile", "FROM python:3.12-slim\n", False),
    ("Dockerfile", "FROM nvidia/cuda:12.1.1-devel AS build\nFROM python:3.12-slim\n", False),
])
def test_declared_hardware(name, text, declared):
    facts = PlatformFacts()
    read_platform_file(name, text, facts)
    assert any(e.mode == "gpu_preferred" for e in facts.evidence) == declared, facts.evidence


@pytest.mark.parametrize(("name", "text", "entry"), [
    ("cog.yaml", "build:\n  gpu: true\npredict: \"src/predict.py:Predictor\"\n", "src/predict.py"),
    ("bentofile.yaml", "service: \"service:Summarizer\"\n", "service.py"),
    ("serverless.yml", "provider:\n  name: aws\nfunctions:\n  hello:\n    handler: src/handler.main\n", "src/handler.py"),
    ("template.yaml", "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: app/\n"
                      "      Handler: app.lambda_handler\n", "app/app.py"),
    ("function.yaml", "spec:\n  handler: main:handler\n", "main.py"),
    ("fn/function.json", "{\"scriptFile\": \"../shared/run.py\", \"bindings\": []}", "shared/run.py"),
    ("fn/function.json", "{\"bindings\": []}", "fn/__init__.py"),
    ("Dockerfile", "FROM python:3.11\nCMD python3 -u /app/server.py\n", "app/server.py"),
    ("Dockerfile", "FROM public.ecr.aws/lambda/python:3.11\nCMD [ \"app.handler\" ]\n", "app.py"),
    ("Dockerfile", "FROM python:3.11\nCMD [\"uvicorn\", \"main:app\", \"--host\", \"0.0.0.0\"]\n", "main.py"),
    ("stack.yml", "provider:\n  gateway: http://x\nfunctions:\n  f:\n    lang: python3\n    handler: ./f\n", "f/"),
])
def test_platform_entries(name, text, entry):
    facts = PlatformFacts()
    read_platform_file(name, text, facts)
    assert facts.entries == [entry]


def test_declared_gpu_with_portable_code_is_gpu_preferred_and_cited(tmp_path):
    result = classify(tmp_path, {"predict.py": PORTABLE_RESNET, "cog.yaml": "build:\n  gpu: true\n"})
    assert result.mode == "gpu_preferred"
    assert (result.evidence[0].file, result.evidence[0].line, result.evidence[0].kind) == ("cog.yaml", 2, "platform")


def test_declared_gpu_without_any_gpu_capable_work_is_cpu(tmp_path):
    result = classify(tmp_path, {"handler.py": PLAIN, "Dockerfile": "FROM nvidia/cuda:12.4.0-base-ubuntu22.04\n"})
    assert result.mode == "cpu"
    assert "no GPU-capable work" in result.evidence[0].detail


def test_declared_gpu_with_a_library_nobody_knows_is_gpu_preferred(tmp_path):
    code = "import obscure_vision_kit as ovk\ndef handle(req):\n    return ovk.segment(req)\n"
    result = classify(tmp_path, {"handler.py": code, "Dockerfile": "FROM nvidia/cuda:12.4.0-base-ubuntu22.04\n"},
                      installed=False)
    assert result.mode == "gpu_preferred"
    assert "unknown_library" in kinds(result)


@pytest.mark.parametrize(("decorator", "expected"), [
    ("@app.function(gpu='A10G')", "gpu_preferred"),
    ("@app.function(gpu=modal.gpu.A100(count=2))", "gpu_preferred"),
    ("@app.function(gpu=None)", "cpu_preferred"),
    ("@app.function()", "cpu_preferred"),
])
def test_modal_gpu_argument(tmp_path, decorator, expected):
    code = ("import modal\napp = modal.App('x')\n" + decorator + "\ndef run(texts):\n"
            "    import torch\n    device = 'cuda' if torch.cuda.is_available() else 'cpu'\n"
            "    return torch.ones(3, device=device).sum().item()\n")
    assert classify(tmp_path, {"app.py": code}).mode == expected


def test_modal_image_packages_count_only_when_run(tmp_path):
    image = "import modal, subprocess\nimage = modal.Image.debian_slim().pip_install('vllm==0.6', 'requests')\n" \
            "app = modal.App('x', image=image)\n@app.function(gpu='L4')\ndef serve():\n"
    served = classify(tmp_path / "a", {"app.py": image + "    subprocess.Popen('vllm serve m --port 8000', shell=True)\n"})
    assert served.mode == "gpu" and {"subprocess", "requirement"} <= kinds(served, "gpu")
    idle = classify(tmp_path / "b", {"app.py": image + "    import requests\n    return requests.get('http://x').text\n"})
    assert idle.mode == "cpu"


def test_platform_entry_wins_over_helpers_with_entry_file_names(tmp_path):
    result = classify(tmp_path, {
        "Score/function.json": "{\"scriptFile\": \"__init__.py\", \"bindings\": []}",
        "Score/__init__.py": "import azure.functions as func\nfrom ..shared.app import tidy\n"
                             "from transformers import pipeline\np = pipeline('sentiment-analysis')\n"
                             "def main(req: func.HttpRequest):\n    return p(tidy(req.get_body().decode()))\n",
        "shared/__init__.py": "",
        "shared/app.py": "def tidy(text):\n    return text.strip()\n",
        "tools/main.py": "import torch\nm = torch.nn.Linear(8, 8).cuda()\n",
    })
    assert result.mode == "cpu_preferred"
    assert any(e.file == "tools/main.py" and "not counted" in e.detail for e in result.evidence)


def test_runpod_start_marks_the_entry(tmp_path):
    result = classify(tmp_path, {
        "worker.py": "import runpod\nfrom engine import run\nrunpod.serverless.start({'handler': run})\n",
        "engine.py": "import torch\nnet = torch.nn.Linear(4, 4).to('cuda')\ndef run(job):\n"
                     "    return net(torch.ones(4, device='cuda')).tolist()\n",
        "main.py": "print('local smoke test')\n",
    })
    assert result.mode == "gpu"


def test_unknown_library_resolved_through_installed_metadata(tmp_path):
    site = tmp_path / "site"
    for name, requires in (("fancy_upscaler", "torch>=2.0"), ("plain_tool", "requests"),
                           ("wrapped_upscaler", "fancy-upscaler")):
        info = site / f"{name}-1.0.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name.replace('_', '-')}\nVersion: 1.0\n"
                                       f"Requires-Dist: {requires}\nRequires-Dist: cupy ; extra == \"gpu\"\n")
        (info / "top_level.txt").write_text(name + "\n")
    index = Installed([str(site)])
    assert index.classify("fancy_upscaler") == ("fancy-upscaler", "dl")
    assert index.classify("wrapped_upscaler") == ("wrapped-upscaler", "dl")  # through another distribution
    assert index.classify("plain_tool") == ("plain-tool", "cpu")
    assert index.classify("not_installed") is None
    code = "from fancy_upscaler import Upscaler\nup = Upscaler('x4')\ndef handle(img):\n    return up.run(img)\n"
    found = classify(tmp_path / "fn", {"handler.py": code}, site_paths=[str(site)])
    assert found.mode == "cpu_preferred" and "fancy-upscaler" in found.frameworks
    assert "framework" in kinds(found, "cpu_preferred")
    tables_only = classify_path(tmp_path / "fn", installed=False)
    assert tables_only.mode == "cpu" and "unknown_library" in kinds(tables_only)


@pytest.mark.parametrize(("command", "expected"), [
    ("subprocess.run(['axolotl', 'train', 'cfg.yml'], check=True)", "gpu"),
    ("subprocess.Popen(' '.join(['vllm', 'serve', 'm']), shell=True)", "gpu"),
    ("subprocess.run([sys.executable, '-m', 'vllm.entrypoints.openai.api_server'])", "gpu"),
    ("subprocess.run([sys.executable, '-m', 'http.server'])", "cpu"),
    ("subprocess.run(['python', '-m', 'vllm.entrypoints.openai.api_server'])", "gpu"),
    ("subprocess.run(['/opt/bin/cuda_matmul', '4096'])", "gpu"),
    ("subprocess.run(['ffmpeg', '-i', 'a.mp4', '-c:v', 'h264_nvenc', 'b.mp4'])", "gpu"),
    ("subprocess.run(['ffmpeg', '-i', 'a.mp4', '-c:v', 'libx264', 'b.mp4'])", "cpu"),
    ("subprocess.check_output(['nvidia-smi', '-L'])", "gpu"),
    ("os.system('torchrun --nproc_per_node 1 train.py')", "gpu_preferred"),
])
def test_programs_run_through_subprocess(tmp_path, command, expected):
    code = f"import os, subprocess, sys\ndef handle(req):\n    {command}\n"
    assert classify(tmp_path, {"handler.py": code}).mode == expected


def test_nvidia_smi_probe_in_a_try_is_portable(tmp_path):
    code = ("import subprocess\ndef has_gpu():\n    try:\n        subprocess.run(['nvidia-smi'], check=True)\n"
            "        return True\n    except Exception:\n        return False\n")
    assert classify(tmp_path, {"handler.py": code}).mode == "cpu_preferred"


@pytest.mark.parametrize(("code", "expected"), [
    # device questions alone run nothing
    ("import torch\ndef handle(req):\n    return torch.cuda.get_device_name(0)\n", "cpu"),
    ("import torch\ndef handle(req):\n    return {'gpus': torch.cuda.device_count(), 'v': torch.__version__}\n", "cpu"),
    ("import tensorflow as tf\ndef handle(req):\n    return len(tf.config.list_physical_devices('GPU'))\n", "cpu"),
    # the same question next to real work keeps its weight
    ("import torch\ndef handle(req):\n    torch.cuda.get_device_name(0)\n    return torch.ones(4).cuda().sum()\n", "gpu"),
    # a model loaded and never run
    ("from transformers import AutoModelForCausalLM\nm = AutoModelForCausalLM.from_pretrained('meta-llama/Llama-2-7b-hf')"
     "\ndef handle(req):\n    return 'ok'\n", "cpu"),
    ("from transformers import AutoModelForCausalLM\nm = AutoModelForCausalLM.from_pretrained('meta-llama/Llama-2-7b-hf')"
     ".to('cuda')\ndef handle(req):\n    return 'ok'\n", "cpu"),
    ("from transformers import AutoModelForCausalLM\nm = AutoModelForCausalLM.from_pretrained('meta-llama/Llama-2-7b-hf')"
     "\ndef handle(req):\n    return m.generate(req)\n", "gpu_preferred"),
])
def test_what_counts_as_work(tmp_path, code, expected):
    assert classify(tmp_path, {"handler.py": code}).mode == expected


@pytest.mark.parametrize(("code", "expected"), [
    ("import torch\n\ndef pick():\n    if torch.cuda.is_available():\n        return 'cuda'\n"
     "    raise RuntimeError('GPU only')\n\nnet = torch.nn.Linear(2, 2).to(pick())\n", "gpu"),
    ("import onnxruntime as ort\ns = ort.InferenceSession('m.onnx', providers=['CUDAExecutionProvider', "
     "'CPUExecutionProvider'])\nif 'CUDAExecutionProvider' not in s.get_providers():\n    raise SystemExit('no CUDA')\n",
     "gpu"),
    ("import onnxruntime as ort\ns = ort.InferenceSession('m.onnx', providers=['CUDAExecutionProvider', "
     "'CPUExecutionProvider'])\n", "cpu_preferred"),
    ("import torch\ndef check(device):\n    if device not in ('cpu', 'cuda'):\n        raise ValueError(device)\n"
     "    return torch.ones(2, device=device)\n", "cpu_preferred"),
    ("import tensorflow as tf\ngpus = tf.config.list_physical_devices('GPU')\nif not gpus:\n"
     "    raise RuntimeError('needs a GPU')\nm = tf.keras.applications.MobileNetV2()\n", "gpu"),
])
def test_cuda_only_shapes(tmp_path, code, expected):
    assert classify(tmp_path, {"handler.py": code}).mode == expected


@pytest.mark.parametrize(("code", "expected"), [
    ("import torch\nw = torch.tensor([[1., 2.], [3., 4.]], requires_grad=True)\n(w * w).sum().backward()\n",
     "cpu_preferred"),
    ("import torch\nnet = torch.nn.Linear(8, 2)\nopt = torch.optim.Adam(net.parameters())\n"
     "def handle(x):\n    loss = net(x).sum()\n    loss.backward()\n    opt.step()\n", "gpu_preferred"),
    ("from tensorflow import keras\nm = keras.Sequential()\ndef handle(gen):\n    m.fit_generator(gen)\n", "gpu_preferred"),
    ("import torch\nfrom torchvision import transforms, models\nm = models.resnet50()\n"
     "t = transforms.Resize((1080, 1920))\ndef handle(img):\n    return m(t(img).unsqueeze(0))\n", "gpu_preferred"),
    ("import torch\nfrom torchvision import transforms, models\nm = models.resnet50()\n"
     "t = transforms.Resize((224, 224))\ndef handle(img):\n    return m(t(img).unsqueeze(0))\n", "cpu_preferred"),
    ("from PIL import Image\ndef handle(path):\n    return Image.open(path).resize((1920, 1080))\n", "cpu"),
    ("from transformers import AutoTokenizer, AutoModelForSequenceClassification\n"
     "tok = AutoTokenizer.from_pretrained('distilbert-base-uncased')\n"
     "m = AutoModelForSequenceClassification.from_pretrained('distilbert-base-uncased')\n"
     "def handle(t):\n    return m(**tok(t, truncation=True, max_length=512, return_tensors='pt'))\n", "cpu_preferred"),
])
def test_weight_of_the_work(tmp_path, code, expected):
    assert classify(tmp_path, {"handler.py": code}).mode == expected


@pytest.mark.parametrize(("code", "expected"), [
    ("import whisperx\nm = whisperx.load_model('large-v3', 'cuda')\ndef handle(a):\n    return m.transcribe(a)\n", "gpu"),
    ("import whisperx\nm = whisperx.load_model('large-v3', 'cpu', compute_type='int8')\n"
     "def handle(a):\n    return m.transcribe(a)\n", "gpu_preferred"),
    ("import whisperx\nm = whisperx.load_model('base', 'cpu')\ndef handle(a):\n    return m.transcribe(a)\n",
     "cpu_preferred"),
    ("from realesrgan import RealESRGANer\nup = RealESRGANer(scale=4, model_path='x4.pth')\n"
     "def handle(img):\n    return up.enhance(img)\n", "gpu_preferred"),
    ("from audiocraft.models import MusicGen\nm = MusicGen.get_pretrained('facebook/musicgen-small')\n"
     "def handle(p):\n    return m.generate([p])\n", "gpu_preferred"),
    ("from fastembed import TextEmbedding\ne = TextEmbedding('BAAI/bge-small-en-v1.5')\n"
     "def handle(d):\n    return list(e.embed(d))\n", "cpu_preferred"),
])
def test_library_families(tmp_path, code, expected):
    assert classify(tmp_path, {"handler.py": code}, installed=False).mode == expected


def test_annotation_only_names_do_not_read_as_an_unused_import(tmp_path):
    code = "from torch import Tensor, nn\nclass Net(nn.Module):\n    def forward(self, x: Tensor) -> Tensor:\n" \
           "        return x\n"
    result = classify(tmp_path, {"net.py": code})
    assert "import_unused" not in kinds(result) and result.mode == "cpu_preferred"


def test_a_script_run_through_subprocess_gives_a_declared_gpu_its_weight(tmp_path):
    code = "import subprocess\nserver = subprocess.Popen(['python', '/srv/app/main.py', '--port', '8188'])\n" \
           "def handle(req):\n    return 'ok'\n"
    gpu_image = "FROM nvidia/cuda:12.1.1-runtime-ubuntu22.04\n"
    assert classify(tmp_path / "a", {"handler.py": code, "Dockerfile": gpu_image}).mode == "gpu_preferred"
    assert classify(tmp_path / "b", {"handler.py": code}).mode == "cpu"
    tar = "import subprocess\ndef handle(req):\n    subprocess.run(['tar', 'czf', '/tmp/a.tgz', '/tmp/a'])\n"
    assert classify(tmp_path / "c", {"handler.py": tar, "Dockerfile": gpu_image}).mode == "cpu"


@pytest.mark.parametrize(("instance", "expected"), [
    ("ml.g5.xlarge", "gpu_preferred"), ("ml.p3.2xlarge", "gpu_preferred"), ("ml.m5.large", "cpu_preferred"),
])
def test_deployment_scripts_declare_instances(tmp_path, instance, expected):
    files = {"code/inference.py": "import torch\ndevice = 'cuda' if torch.cuda.is_available() else 'cpu'\n"
                                  "def model_fn(d):\n    return torch.jit.load(d + '/m.pt').to(device)\n"
                                  "def predict_fn(x, model):\n    return model(x.to(device))\n",
             "deploy.py": "from sagemaker.pytorch import PyTorchModel\nm = PyTorchModel(entry_point='inference.py')\n"
                          f"m.deploy(initial_instance_count=1, instance_type={instance!r})\n"}
    assert classify(tmp_path, files).mode == expected


def test_literal_arguments_reach_the_parameters_of_local_classes(tmp_path):
    result = classify(tmp_path, {
        "main.py": "from loader import Detector\ndef init_context(context):\n"
                   "    context.user_data.model = Detector('COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_3x.yaml')\n"
                   "def handler(context, event):\n    return context.user_data.model.run(event.body)\n",
        "loader.py": "from detectron2 import model_zoo\nfrom detectron2.config import get_cfg\n"
                     "from detectron2.engine import DefaultPredictor\nclass Detector:\n"
                     "    def __init__(self, config_name):\n        cfg = get_cfg()\n"
                     "        cfg.merge_from_file(model_zoo.get_config_file(config_name))\n"
                     "        self.predictor = DefaultPredictor(cfg)\n    def run(self, image):\n"
                     "        return self.predictor(image)\n",
    })
    assert result.mode == "gpu_preferred" and result.evidence[0].file == "loader.py"


@pytest.mark.parametrize(("name", "text", "kind", "mode"), [
    ("cerebrium.toml", "[cerebrium.hardware]\ncompute = \"AMPERE_A10\"\ngpu_count = 1\n", "platform", "gpu_preferred"),
    ("cerebrium.toml", "[cerebrium.hardware]\ncompute = \"CPU\"\ncpu = 2\n", None, None),
    ("fly.toml", "app = \"x\"\n[[vm]]\n  gpu_kind = \"a100-40gb\"\n", "platform", "gpu_preferred"),
    ("config.yaml", "resources:\n  accelerator: A10G\n  use_gpu: true\n", "platform", "gpu_preferred"),
    ("config.yaml", "docker_server:\n  start_command: >-\n    sh -c \"vllm serve m --port 8000\"\n", "subprocess", "gpu"),
    ("Dockerfile", "FROM python:3.11\nENTRYPOINT [\"python3\", \"-m\", \"vllm.entrypoints.openai.api_server\"]\n",
     "subprocess", "gpu"),
    ("pyproject.toml", "[tool.x]\ngpu = 1\n", None, None),
])
def test_more_platform_settings(name, text, kind, mode):
    from gaia_faas.classifier.platform import is_platform_file
    facts = PlatformFacts()
    if is_platform_file(name):
        read_platform_file(name, text, facts)
    found = [(e.kind, e.mode) for e in facts.evidence if e.mode != "cpu"]
    assert found[:1] == ([(kind, mode)] if kind else [])


def test_gpu_names_in_sdk_decorators_declare_hardware(tmp_path):
    code = "from beam import endpoint\nimport torch\n@endpoint(gpu='A10G', cpu=2)\ndef run(x):\n" \
           "    return torch.ones(2).sum().item()\n"
    assert classify(tmp_path / "a", {"app.py": code}).mode == "gpu_preferred"
    ocr = "import easyocr\nreader = easyocr.Reader(['en'], gpu=True)\ndef handle(img):\n    return reader.readtext(img)\n"
    assert classify(tmp_path / "b", {"handler.py": ocr}).mode == "cpu_preferred"


@pytest.mark.parametrize(("name", "text"), [
    ("docker-compose.yml", "services:\n  api:\n    deploy:\n      resources:\n        reservations:\n          devices:\n"
                           "            - driver: nvidia\n              count: 1\n"),
    ("environment.yml", "name: fn\ndependencies:\n  - python=3.11\n  - pytorch-cuda=12.1\n"),
])
def test_compose_and_conda_declare_gpus(name, text):
    facts = PlatformFacts()
    read_platform_file(name, text, facts)
    assert [e.mode for e in facts.evidence] == ["gpu_preferred"]


@pytest.mark.parametrize(("code", "expected"), [
    ("import lightning as L\nfrom model import Net\ndef handle(data):\n"
     "    L.Trainer(accelerator='gpu', devices=1, max_epochs=3).fit(Net(), data)\n", "gpu"),
    ("import lightning as L\nfrom model import Net\ndef handle(data):\n"
     "    L.Trainer(accelerator='auto', max_epochs=3).fit(Net(), data)\n", "gpu_preferred"),
    # a library nobody knows is handed the device: that is where its work runs
    ("from kandinsky2 import get_kandinsky2\nmodel = get_kandinsky2('cuda', task_type='text2img')\n"
     "def handle(p):\n    return model.generate_text2img(p)\n", "gpu"),
    # a hosted API client naming a big model runs nothing locally
    ("import replicate\ndef handle(p):\n    return replicate.run('stability-ai/stable-diffusion-xl-base-1.0', "
     "input={'prompt': p})\n", "cpu"),
])
def test_devices_handed_to_libraries(tmp_path, code, expected):
    files = {"handler.py": code, "model.py": "from torch import nn\nclass Net(nn.Module):\n    pass\n"}
    assert classify(tmp_path, files, installed=False).mode == expected


def test_template_build_step_resolves_imports_against_the_installed_requirements(tmp_path):
    """What the Dockerfile does: pip-install function/requirements.txt, then run gaia_build.py with that Python."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    template = Path(__file__).resolve().parent.parent / "templates" / "gaia-python"
    site = tmp_path / "site"
    info = site / "voice_clone_kit-2.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: voice-clone-kit\nVersion: 2.0\nRequires-Dist: torch\n")
    (info / "top_level.txt").write_text("voice_clone_kit\n")
    function = tmp_path / "function"
    function.mkdir()
    (function / "handler.py").write_text("from voice_clone_kit import Cloner\ncloner = Cloner('v2')\n"
                                         "def handle(req):\n    return cloner.speak(req)\n")
    out = tmp_path / "classification.json"
    done = subprocess.run([sys.executable, str(template / "gaia_build.py"), str(function), str(out)], cwd=template,
                          env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    assert result["mode"] == "cpu_preferred" and "voice-clone-kit" in result["frameworks"]


def test_broken_platform_files_lose_nothing(tmp_path):
    files = {
        "handler.py": PORTABLE_RESNET,
        "function.json": "{not json",
        "cog.yaml": "build:\n\tgpu: [unterminated\n  - - - :\n",
        "cerebrium.toml": "[cerebrium.hardware\ncompute = ",
        "Dockerfile": "FROM\nCMD [\"python\", \n",
        "serverless.yml": "functions:\n  f:\n    handler: ../../../etc/passwd.main\n",
    }
    result = classify(tmp_path, files)
    assert result.mode == "cpu_preferred" and not result.errors
    (tmp_path / "Dockerfile.gpu").write_bytes(b"FROM nvidia/cuda\x00\x01\x02")
    result = classify_path(tmp_path)
    assert result.mode == "cpu_preferred" and any("binary" in e for e in result.errors)


@pytest.mark.parametrize(("code", "expected"), [
    ("from transformers import AutoModelForCausalLM\nclass EndpointHandler:\n    def __init__(self, path=''):\n"
     "        self.m = AutoModelForCausalLM.from_pretrained(path)\n    def __call__(self, d):\n"
     "        return self.m.generate(d)\n", "gpu_preferred"),
    ("from transformers import AutoModelForCausalLM\nm = AutoModelForCausalLM.from_pretrained('distilgpt2')\n"
     "def handle(x):\n    return m.generate(x, max_new_tokens=20)\n", "cpu_preferred"),
    ("from transformers import pipeline\nclass EndpointHandler:\n    def __init__(self, path=''):\n"
     "        self.p = pipeline('text-generation', model=path)\n    def __call__(self, d):\n        return self.p(d)\n",
     "gpu_preferred"),
    ("from transformers import AutoModelForSequenceClassification\nclass EndpointHandler:\n"
     "    def __init__(self, path=''):\n        self.m = AutoModelForSequenceClassification.from_pretrained(path)\n"
     "    def __call__(self, d):\n        return self.m(**d)\n", "cpu_preferred"),
])
def test_generative_models_of_unstated_size(tmp_path, code, expected):
    assert classify(tmp_path, {"handler.py": code}).mode == expected


@pytest.mark.parametrize(("pin", "expected"), [("torch==2.1.2+cu121", "gpu_preferred"), ("torch==2.1.2+cpu", "cpu_preferred")])
def test_local_version_pins(tmp_path, pin, expected):
    code = "import torch\nd = 'cuda' if torch.cuda.is_available() else 'cpu'\ndef handle(x):\n" \
           "    return torch.ones(3, device=d).sum().item()\n"
    assert classify(tmp_path, {"handler.py": code, "requirements.txt": pin + "\n"}).mode == expected
