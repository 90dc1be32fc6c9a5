"""One rule at a time: each test writes a small handler and checks the mode and the evidence it cites."""

import textwrap

import pytest

from gaia_faas.classifier import MODES, Classification, Evidence, classify_path


def classify(tmp_path, files, declared_mode=None) -> Classification:
    if isinstance(files, str):
        files = {"handler.py": files}
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return classify_path(tmp_path, declared_mode=declared_mode)


def lines_of(result, kind):
    return [(e.file, e.line) for e in result.evidence if e.kind == kind]


def test_public_interface():
    assert MODES == ("cpu", "cpu_preferred", "gpu_preferred", "gpu")
    assert {"file", "line", "kind", "detail"} <= set(Evidence.__dataclass_fields__)


def test_to_dict_is_the_json_shape(tmp_path):
    result = classify(tmp_path, "import torch\nx = torch.zeros(3).cuda()\n")
    data = result.to_dict()
    assert data["mode"] == "gpu" and data["declared"] is False
    assert {"mode", "rationale", "evidence", "frameworks", "errors"} <= set(data)
    assert data["evidence"][0] == {"file": "handler.py", "line": 2, "kind": "cuda", "mode": "gpu",
                                   "detail": data["evidence"][0]["detail"]}
    assert data["frameworks"] == ["torch"]


@pytest.mark.parametrize("code", [
    "import torch as T\nm = T.nn.Linear(2, 2).to('cuda')\n",
    "from torch import device, nn\nd = device('cuda:0')\nm = nn.Linear(2, 2).to(d)\n",
    "import torch\nDEV = 'cuda'\nm = torch.nn.Linear(2, 2)\nm.to(DEV)\n",
    "import torch\nclass H:\n    def __init__(self):\n        self.device = torch.device('cuda')\n"
    "        self.m = torch.nn.Linear(2, 2).to(self.device)\n",
    "import os, torch\nDEVICE = os.getenv('DEVICE', 'cuda')\nx = torch.ones(2, device=DEVICE)\n",
    "from transformers import pipeline\np = pipeline('fill-mask', model='bert-base-uncased', device=0)\n",
    "from transformers import AutoModel\nm = AutoModel.from_pretrained('bert-base-uncased', device_map={'': 0})\n",
    "import torch\nrank = 0\nx = torch.ones(2).to('cuda:' + str(rank))\n",
    "import torch\nif not torch.cuda.is_available():\n    raise RuntimeError('needs a GPU')\n",
    "import torch\nx = torch.ones(8) * 2\ntorch.cuda.synchronize()\n",
    "import torch\nx = torch.ones(2)\nx = x.cuda()\n",
])
def test_unconditional_cuda_is_gpu(tmp_path, code):
    assert classify(tmp_path, code).mode == "gpu"


@pytest.mark.parametrize("code", [
    "import torch\ndevice = 'cuda' if torch.cuda.is_available() else 'cpu'\nm = torch.nn.Linear(2, 2).to(device)\n",
    "import torch\nm = torch.nn.Linear(2, 2)\nif torch.cuda.is_available():\n    m = m.cuda()\n",
    "import torch\ndevice = 'cpu'\nif torch.cuda.is_available():\n    device = 'cuda'\nx = torch.ones(2, device=device)\n",
    "import torch\ndef pick():\n    return torch.device('cuda' if torch.cuda.is_available() else 'cpu')\n"
    "m = torch.nn.Linear(2, 2).to(pick())\n",
    "from transformers import pipeline\nimport torch\n"
    "p = pipeline('sentiment-analysis', device=0 if torch.cuda.is_available() else -1)\n",
    "import torch\nm = torch.nn.Linear(2, 2)\ntry:\n    m = m.cuda()\nexcept RuntimeError:\n    m = m.to('cpu')\n",
    "import torch\nUSE_GPU = torch.cuda.is_available()\nm = torch.nn.Linear(2, 2)\nif USE_GPU:\n    m.cuda()\n",
])
def test_portable_device_selection_with_light_work_is_cpu_preferred(tmp_path, code):
    result = classify(tmp_path, code)
    assert result.mode == "cpu_preferred", result.rationale
    assert lines_of(result, "cuda_portable")


def test_device_values_cross_helper_modules(tmp_path):
    result = classify(tmp_path, {
        "handler.py": "from .net import run\n\ndef handle(req):\n    return run(req)\n",
        "net.py": "import torch\nfrom settings import DEVICE\n\ndef run(x):\n    return torch.tensor([1.0]).to(DEVICE)\n",
        "settings.py": "DEVICE = 'cuda'\n",
    })
    assert result.mode == "gpu"
    assert lines_of(result, "cuda") == [("net.py", 5)]


def test_helper_function_returning_a_device_from_another_module(tmp_path):
    result = classify(tmp_path, {
        "handler.py": "import torch\nfrom util import get_device\nm = torch.nn.Linear(1, 1).to(get_device())\n",
        "util.py": "import torch\n\ndef get_device():\n    if torch.cuda.is_available():\n        return 'cuda'\n"
                   "    return 'cpu'\n",
    })
    assert result.mode == "cpu_preferred" and lines_of(result, "cuda_portable") == [("handler.py", 3)]


def test_cuda_in_comments_docstrings_and_unrelated_strings_does_not_count(tmp_path):
    result = classify(tmp_path, '''
        """Runs on cuda: call model.cuda() on a GPU node."""
        import json
        # x.cuda()  torch.device("cuda")
        BANNER = "built for cuda and .to('cuda')"

        def handle(req):
            return json.dumps({"accelerator": "cuda", "message": BANNER})
        ''')
    assert result.mode == "cpu"
    assert not [e for e in result.evidence if "cuda" in e.kind]


def test_strongest_mode_across_files_wins(tmp_path):
    result = classify(tmp_path, {
        "handler.py": "import json\nfrom . import a\nfrom .lib.b import x\n\ndef handle(req):\n    return json.dumps(req)\n",
        "a.py": "import torch\nx = torch.ones(3)\n",
        "lib/b.py": "import cupy\nx = cupy.ones(3)\n",
    })
    assert result.mode == "gpu" and result.evidence[0].file == "lib/b.py"


def test_without_an_entry_file_every_file_counts(tmp_path):
    result = classify(tmp_path, {"a.py": "import torch\nx = torch.ones(3)\n", "b.py": "import cupy\n"})
    assert result.mode == "gpu"


def test_files_the_handler_does_not_import_are_reported_but_not_counted(tmp_path):
    result = classify(tmp_path, {
        "handler.py": "from model import predict\n\ndef handle(req):\n    return predict(req)\n",
        "model.py": "import torch\nnet = torch.jit.load('net.pt')\n\ndef predict(x):\n    return net(torch.tensor(x))\n",
        "train.py": "import torch\nnet = torch.nn.Linear(2, 2).cuda()\nloss = net(torch.ones(2)).sum()\nloss.backward()\n",
    })
    assert result.mode == "cpu_preferred", result.rationale
    skipped = [e for e in result.evidence if e.file == "train.py"]
    assert skipped and all(e.mode == "cpu" and "not imported by handler.py" in e.detail for e in skipped)


@pytest.mark.parametrize(("model_id", "expected"), [
    ("TinyLlama/TinyLlama-1.1B-Chat-v1.0", "gpu_preferred"),
    ("meta-llama/Llama-2-7b-chat-hf", "gpu_preferred"),
    ("mistralai/Mixtral-8x7B-Instruct-v0.1", "gpu_preferred"),
    ("google/flan-t5-xl", "gpu_preferred"),
    ("gpt2", "cpu_preferred"),
    ("distilgpt2", "cpu_preferred"),
    ("facebook/opt-125m", "cpu_preferred"),
    ("Qwen/Qwen2-0.5B-Instruct", "cpu_preferred"),
])
def test_causal_lm_size_from_the_model_id(tmp_path, model_id, expected):
    code = f"from transformers import AutoModelForCausalLM\nm = AutoModelForCausalLM.from_pretrained({model_id!r})\n"
    assert classify(tmp_path, code).mode == expected


@pytest.mark.parametrize(("task", "model", "expected"), [
    ("sentiment-analysis", None, "cpu_preferred"),
    ("text-classification", "distilbert-base-uncased-finetuned-sst-2-english", "cpu_preferred"),
    ("fill-mask", "bert-base-uncased", "cpu_preferred"),
    ("text-generation", None, "cpu_preferred"),
    ("text-generation", "microsoft/phi-2", "gpu_preferred"),
    ("automatic-speech-recognition", "openai/whisper-large-v3", "gpu_preferred"),
    ("automatic-speech-recognition", "openai/whisper-tiny", "cpu_preferred"),
    ("image-classification", "google/vit-base-patch16-224", "cpu_preferred"),
    ("image-classification", "google/vit-huge-patch14-224-in21k", "gpu_preferred"),
    ("zero-shot-image-classification", "openai/clip-vit-large-patch14", "gpu_preferred"),
])
def test_pipeline_task_and_model(tmp_path, task, model, expected):
    model_arg = f", model={model!r}" if model else ""
    code = f"from transformers import pipeline\np = pipeline({task!r}{model_arg})\n"
    assert classify(tmp_path, code).mode == expected


@pytest.mark.parametrize(("name", "expected"), [
    ("resnet18", "cpu_preferred"), ("mobilenet_v3_small", "cpu_preferred"), ("efficientnet_b0", "cpu_preferred"),
    ("vit_h_14", "gpu_preferred"), ("vit_l_16", "gpu_preferred"), ("regnet_y_128gf", "gpu_preferred"),
    ("maskrcnn_resnet50_fpn", "gpu_preferred"),
])
def test_torchvision_model_names(tmp_path, name, expected):
    code = f"import torchvision\nm = torchvision.models.{name}(weights='DEFAULT').eval()\n"
    assert classify(tmp_path, code).mode == expected


def test_torchvision_via_torch_hub(tmp_path):
    assert classify(tmp_path, "import torch\nm = torch.hub.load('pytorch/vision', 'vit_l_16')\n").mode == "gpu_preferred"


@pytest.mark.parametrize(("size", "expected"), [
    ("tiny", "cpu_preferred"), ("base", "cpu_preferred"), ("small", "cpu_preferred"),
    ("medium", "gpu_preferred"), ("large-v3", "gpu_preferred"), ("turbo", "gpu_preferred"),
])
def test_whisper_sizes(tmp_path, size, expected):
    assert classify(tmp_path, f"import whisper\nm = whisper.load_model({size!r})\n").mode == expected


@pytest.mark.parametrize(("model", "expected"), [
    ("runwayml/stable-diffusion-v1-5", "gpu_preferred"),
    ("stabilityai/sdxl-turbo", "gpu_preferred"),
    ("black-forest-labs/FLUX.1-schnell", "gpu_preferred"),
])
def test_diffusion_is_heavy(tmp_path, model, expected):
    code = f"from diffusers import AutoPipelineForText2Image\np = AutoPipelineForText2Image.from_pretrained({model!r})\n"
    assert classify(tmp_path, code).mode == expected


@pytest.mark.parametrize(("tokens", "expected"), [(32, "cpu_preferred"), (255, "cpu_preferred"),
                                                  (256, "gpu_preferred"), (1024, "gpu_preferred")])
def test_generation_length(tmp_path, tokens, expected):
    code = f"""
        from transformers import AutoModelForCausalLM
        LIMIT = {tokens}
        m = AutoModelForCausalLM.from_pretrained("gpt2")
        def handle(ids):
            return m.generate(ids, max_new_tokens=LIMIT)
        """
    assert classify(tmp_path, code).mode == expected


@pytest.mark.parametrize(("code", "expected"), [
    ("import torch\na = torch.randn(2048, 2048)\n", "gpu_preferred"),
    ("import torch\nN = 2 ** 12\na = torch.rand((N, N))\n", "gpu_preferred"),
    ("import torch\na = torch.randn(64, 64)\nb = a @ a\n", "cpu_preferred"),
    ("import torch\na = torch.randn(1024, 1024)\nfor _ in range(20):\n    a = torch.mm(a, a)\n", "gpu_preferred"),
    ("import torch\na = torch.randn(1024, 1024)\nb = a @ a\n", "cpu_preferred"),
    ("import torch\ndef handle(n):\n    return torch.rand(n, n) @ torch.rand(n, n)\n", "cpu_preferred"),
    ("import numpy as np\na = np.zeros((4096, 4096))\n", "cpu_preferred"),
    ("import numpy as np\na = np.zeros((16, 16))\n", "cpu"),
])
def test_literal_shapes_and_loops(tmp_path, code, expected):
    assert classify(tmp_path, code).mode == expected


def test_half_precision_with_cuda_is_heavy_and_alone_is_not(tmp_path):
    portable = "import torch\nd = 'cuda' if torch.cuda.is_available() else 'cpu'\nm = torch.nn.Linear(2, 2).half().to(d)\n"
    assert classify(tmp_path / "a", portable).mode == "gpu_preferred"
    assert classify(tmp_path / "b", "import torch\nm = torch.nn.Linear(2, 2).to(torch.bfloat16)\n").mode == "cpu_preferred"


def test_training_and_large_batches(tmp_path):
    assert classify(tmp_path / "a", "import torch\nmodel = torch.nn.Linear(4, 2)\n"
                                    "opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
                                    "def step(loss):\n    loss.backward()\n    opt.step()\n").mode == "gpu_preferred"
    assert classify(tmp_path / "b", "import tensorflow as tf\nm = tf.keras.Sequential()\nm.fit(x, y, epochs=3)\n").mode \
        == "gpu_preferred"
    assert classify(tmp_path / "c", "from sklearn.linear_model import LogisticRegression\n"
                                    "m = LogisticRegression().fit(x, y)\n").mode == "cpu"


@pytest.mark.parametrize(("code", "expected"), [
    ("import onnxruntime as ort\ns = ort.InferenceSession('m.onnx', providers=['TensorrtExecutionProvider', "
     "'CUDAExecutionProvider'])\n", "gpu"),
    ("import onnxruntime as ort\ns = ort.InferenceSession('m.onnx', providers=[('CUDAExecutionProvider', {}), "
     "'CPUExecutionProvider'])\n", "cpu_preferred"),
    ("import xgboost as xgb\nm = xgb.XGBRegressor(tree_method='gpu_hist')\n", "gpu"),
    ("import xgboost as xgb\nm = xgb.XGBRegressor(n_estimators=10)\n", "cpu"),
    ("import lightgbm as lgb\nparams = {'device': 'gpu', 'objective': 'binary'}\n", "gpu"),
    ("import tensorflow as tf\nwith tf.device('/CPU:0'):\n    x = tf.ones(3)\n", "cpu_preferred"),
    ("import tensorflow as tf\nif tf.config.list_physical_devices('GPU'):\n    with tf.device('/GPU:0'):\n"
     "        x = tf.ones(3)\n", "cpu_preferred"),
    ("import numba\n@numba.jit\ndef f(x):\n    return x\n", "cpu"),
    ("from numba import cuda\n@cuda.jit\ndef f(x):\n    pass\n", "gpu"),
    ("import importlib\ncp = importlib.import_module('cupy')\n", "gpu"),
    ("try:\n    import cupy as xp\nexcept ImportError:\n    import numpy as xp\n", "gpu_preferred"),
    ("from transformers import AutoModelForCausalLM\nm = AutoModelForCausalLM.from_pretrained('gpt2', load_in_8bit=True)\n",
     "gpu"),
    ("from diffusers import DiffusionPipeline\np = DiffusionPipeline.from_pretrained('x/y')\n"
     "p.enable_xformers_memory_efficient_attention()\n", "gpu"),
])
def test_library_specific_signals(tmp_path, code, expected):
    assert classify(tmp_path, code).mode == expected


@pytest.mark.parametrize(("requirements", "code", "expected"), [
    ("cupy-cuda12x==13.0\n", "import cupy\n", "gpu"),
    ("tensorflow[and-cuda]\n", "import tensorflow as tf\nx = tf.ones(3)\n", "gpu"),
    ("vllm>=0.4\n", "import subprocess\nsubprocess.Popen(['python', '-m', 'vllm.entrypoints.openai.api_server'])\n", "gpu"),
    ("flash_attn\n", "import flash_attn\n", "gpu"),
    ("torch==2.3.0\nnumpy\n", "", "cpu"),
    ("# cupy-cuda12x is only for the benchmark box\nnumpy\n", "", "cpu"),
    ("onnxruntime-gpu\n", "import onnxruntime as ort\ns = ort.InferenceSession('m.onnx')\n", "cpu_preferred"),
    # listed but never imported or run: not counted
    ("cupy-cuda12x==13.0\nvllm\nbitsandbytes\n", "", "cpu"),
    ("tensorflow[and-cuda]\n", "import json\n", "cpu"),
])
def test_requirements(tmp_path, requirements, code, expected):
    result = classify(tmp_path, {"handler.py": code + "def handle(req):\n    return req\n", "requirements.txt": requirements})
    assert result.mode == expected


def test_requirement_evidence_line(tmp_path):
    result = classify(tmp_path, {"handler.py": "x = 1\n", "requirements.txt": "requests\n\nvllm==0.5\n"})
    assert lines_of(result, "requirement") == [("requirements.txt", 3)]


def test_unused_framework_import_is_not_compute(tmp_path):
    result = classify(tmp_path, "import torch  # noqa\n\ndef handle(req):\n    return req\n")
    assert result.mode == "cpu" and result.frameworks == ["torch"]


def test_workload_hints_without_a_local_framework_do_not_count(tmp_path):
    code = ("import requests\n\ndef handle(req):\n    return requests.post('https://api', json={'model': "
            "'meta-llama/Llama-2-70b-chat-hf', 'max_tokens': 2048}).text\n")
    assert classify(tmp_path, code).mode == "cpu"


def test_comment_declaration_wins_and_is_reported(tmp_path):
    result = classify(tmp_path, "# gaia: mode=cpu_preferred\nimport cupy\n")
    assert result.mode == "cpu_preferred" and result.declared
    assert "declared" in result.rationale and "handler.py:1" in result.rationale


def test_declared_mode_argument_wins_over_everything(tmp_path):
    result = classify(tmp_path, "# gaia: mode=cpu\nimport cupy\n", declared_mode="gpu_preferred")
    assert result.mode == "gpu_preferred" and result.declared
    assert "com.gaia.mode" in result.rationale


def test_invalid_declarations(tmp_path):
    result = classify(tmp_path, "# gaia: mode=turbo\nimport torch\nx = torch.ones(1)\n")
    assert result.mode == "cpu_preferred" and not result.declared
    assert any("turbo" in e and "handler.py:1" in e for e in result.errors)
    with pytest.raises(ValueError, match="declared mode 'fast'"):
        classify_path(tmp_path, declared_mode="fast")


def test_declaration_inside_a_string_is_not_a_declaration(tmp_path):
    result = classify(tmp_path, 'HELP = "write # gaia: mode=gpu to pin a function"\n')
    assert result.mode == "cpu" and not result.declared


def test_single_file_path(tmp_path):
    (tmp_path / "h.py").write_text("import torch\nx = torch.ones(2).cuda()\n")
    result = classify_path(tmp_path / "h.py")
    assert result.mode == "gpu" and result.evidence[0].file == "h.py"


@pytest.mark.parametrize(("code", "expected"), [
    ("import torch\nsd = torch.load('m.pt', map_location='cuda')\n", "gpu"),
    ("import torch\nsd = torch.load('m.pt', map_location='cpu')\n", "cpu_preferred"),
    ("import torch\ntorch.set_default_tensor_type('torch.cuda.FloatTensor')\n", "gpu"),
    ("import onnxruntime as ort\ns = ort.InferenceSession('m.onnx', providers=ort.get_available_providers())\n",
     "cpu_preferred"),
    ("import spacy\nnlp = spacy.load('en_core_web_trf')\n", "cpu_preferred"),
    ("import spacy\nnlp = spacy.load('en_core_web_sm')\n", "cpu"),
    ("from transformers import AutoModelForCausalLM\nm = AutoModelForCausalLM.from_pretrained("
     "'TheBloke/Mistral-7B-Instruct-v0.2-AWQ', device_map='auto')\n", "gpu"),
    ("import os, torch\nos.environ['CUDA_VISIBLE_DEVICES'] = '0'\nx = torch.ones(2)\n", "cpu_preferred"),
])
def test_more_library_signals(tmp_path, code, expected):
    assert classify(tmp_path, code).mode == expected


def test_cuda_visible_devices_is_a_portable_hint_and_minus_one_hides_gpus(tmp_path):
    shown = classify(tmp_path / "a", "import os, torch\nos.environ['CUDA_VISIBLE_DEVICES'] = '0'\nx = torch.ones(2)\n")
    hidden = classify(tmp_path / "b", "import os, torch\nos.environ['CUDA_VISIBLE_DEVICES'] = '-1'\nx = torch.ones(2)\n")
    assert lines_of(shown, "cuda_portable") == [("handler.py", 2)]
    assert lines_of(hidden, "cuda_portable") == []


def test_half_precision_chosen_per_device_is_a_portability_idiom(tmp_path):
    code = """
        import torch
        from torchvision import models
        device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = torch.float16 if device == "cuda" else torch.float32
        net = models.resnet18().to(device, dtype)
        """
    result = classify(tmp_path, code)
    assert result.mode == "cpu_preferred" and not lines_of(result, "half_precision")


def test_half_precision_on_a_known_light_model_stays_light(tmp_path):
    code = """
        import torch
        from transformers import AutoModelForSequenceClassification
        device = "cuda" if torch.cuda.is_available() else "cpu"
        m = AutoModelForSequenceClassification.from_pretrained("distilbert-base-uncased", torch_dtype=torch.float16)
        m.to(device)
        """
    assert classify(tmp_path, code).mode == "cpu_preferred"


def test_max_length_counts_for_generation_but_not_for_tokenizer_truncation(tmp_path):
    truncation = """
        from transformers import AutoTokenizer, AutoModelForSequenceClassification
        tok = AutoTokenizer.from_pretrained("bert-base-uncased")
        m = AutoModelForSequenceClassification.from_pretrained("bert-base-uncased")
        def handle(text):
            return m(**tok(text, max_length=512, truncation=True, padding="max_length", return_tensors="pt"))
        """
    generation = """
        from transformers import AutoModelForCausalLM
        m = AutoModelForCausalLM.from_pretrained("gpt2")
        def handle(ids):
            return m.generate(ids, max_length=1024)
        """
    assert classify(tmp_path / "a", truncation).mode == "cpu_preferred"
    assert classify(tmp_path / "b", generation).mode == "gpu_preferred"


def test_integer_device_outside_ml_libraries_is_not_a_gpu(tmp_path):
    code = "import sounddevice as sd\nimport numpy as np\n\ndef handle(req):\n    sd.play(np.zeros(10), device=0)\n"
    assert classify(tmp_path, code).mode == "cpu"


@pytest.mark.parametrize(("code", "expected"), [
    ("import torch, sys\nif not torch.cuda.is_available():\n    sys.exit('no GPU')\n", "gpu"),
    ("import torch\nif torch.cuda.is_available():\n    dev = 'cuda'\nelse:\n    raise SystemExit('GPU only')\n", "gpu"),
    ("import torch\ndef place(m):\n    if not torch.cuda.is_available():\n        return m\n    return m.cuda()\n",
     "cpu_preferred"),
    ("import torch\nclass Model:\n    DEVICE = 'cuda'\n    def __init__(self):\n"
     "        self.net = torch.nn.Linear(2, 2).to(self.DEVICE)\n", "gpu"),
    ("from numba import vectorize\n@vectorize(['float32(float32)'], target='cuda')\ndef f(x):\n    return x\n", "gpu"),
    ("import torch\nm = torch.hub.load('facebookresearch/dinov2', 'dinov2_vitg14')\n", "gpu_preferred"),
    ("from transformers import VisionEncoderDecoderModel\n"
     "m = VisionEncoderDecoderModel.from_pretrained('microsoft/trocr-base-handwritten')\n", "cpu_preferred"),
])
def test_refusals_class_attributes_and_more_model_families(tmp_path, code, expected):
    assert classify(tmp_path, code).mode == expected


@pytest.mark.parametrize(("code", "expected"), [
    ("import torch\nfrom segment_anything import sam_model_registry\n"
     "sam = sam_model_registry['vit_h'](checkpoint='sam_vit_h_4b8939.pth')\n", "gpu_preferred"),
    ("import torch\nfrom segment_anything import sam_model_registry\n"
     "sam = sam_model_registry['vit_b'](checkpoint='sam_vit_b_01ec64.pth')\n", "cpu_preferred"),
    ("import torch\nfrom detectron2.config import get_cfg\ncfg = get_cfg()\n"
     "cfg.merge_from_file('configs/COCO-Detection/faster_rcnn_R_50_FPN_3x.yaml')\n", "gpu_preferred"),
])
def test_registry_models_and_detector_configs(tmp_path, code, expected):
    assert classify(tmp_path, code).mode == expected


def test_evidence_cites_the_line_of_the_keyword_in_a_multi_line_call(tmp_path):
    result = classify(tmp_path, """
        from transformers import pipeline
        chat = pipeline(
            "text-generation",
            model="meta-llama/Llama-2-7b-chat-hf",
            device=0,
        )
        """)
    assert result.mode == "gpu"
    assert lines_of(result, "cuda") == [("handler.py", 6)]
    assert lines_of(result, "heavy_model") == [("handler.py", 5)]


@pytest.mark.parametrize(("code", "expected"), [
    ("import easyocr\nreader = easyocr.Reader(['en'], gpu=True)\n", "cpu_preferred"),
    ("import easyocr\nreader = easyocr.Reader(['en'], gpu=False)\n", "cpu_preferred"),
    ("import tensorflow as tf\nimport os\nd = '/GPU:0' if tf.config.list_physical_devices('GPU') else '/CPU:0'\n"
     "tf.keras.mixed_precision.set_global_policy('mixed_float16')\nwith tf.device(d):\n    x = tf.ones(3)\n",
     "gpu_preferred"),
])
def test_gpu_flags_and_mixed_precision(tmp_path, code, expected):
    result = classify(tmp_path, code)
    assert result.mode == expected, result.rationale


@pytest.mark.parametrize("code", [
    "import torch\nx = torch.ones(1)\nif not writer.is_available():\n    raise RuntimeError('no ffmpeg')\n",
    "import torch\nimport numpy as np\nx = torch.ones(1)\nd = 'cuda' if torch.cuda.is_available() else 'cpu'\n"
    "a = np.zeros(4, dtype=np.float16)\nb = np.zeros(4, dtype='float16')\n",
    "import torch\nimport fsspec\nx = torch.ones(1)\nfs = fsspec.filesystem('s3')\nfs.cat(['a', 'b'], batch_size=1280)\n",
    "import torch\nimport openai\nx = torch.ones(1)\n"
    "r = openai.OpenAI().chat.completions.create(model='gpt-4o', messages=[], max_tokens=4096)\n",
])
def test_look_alikes_from_other_libraries_do_not_raise_the_mode(tmp_path, code):
    result = classify(tmp_path, code)
    assert result.mode == "cpu_preferred", result.rationale


def test_numpy_device_and_half_are_not_gpu_signals(tmp_path):
    code = "import numpy as np\nimport torch\nx = torch.ones(1)\na = np.asarray([1], device='cpu')\n" \
           "b = np.zeros(2, device='gpu')\nh = np.half(1.0)\nh2 = np.float32(1).half()\n"
    result = classify(tmp_path, code)
    assert result.mode == "cpu_preferred", result.rationale


@pytest.mark.parametrize(("code", "expected"), [
    ("import os, whisper\nSIZES = {'fast': 'base', 'accurate': 'large-v3'}\n"
     "m = whisper.load_model(SIZES[os.getenv('QUALITY', 'fast')])\n", "cpu_preferred"),
    ("import os, whisper\nSIZES = {'fast': 'base', 'accurate': 'large-v3'}\n"
     "m = whisper.load_model(SIZES[os.getenv('QUALITY', 'accurate')])\n", "gpu_preferred"),
    ("import torch\nclass Settings:\n    DEVICE: str = 'cuda'\nsettings = Settings()\n"
     "x = torch.ones(2).to(settings.DEVICE)\n", "gpu"),
    ("from transformers import AutoModelForCausalLM\nclass Config:\n    MODEL_NAME = 'mistralai/Mistral-7B-v0.1'\n"
     "m = AutoModelForCausalLM.from_pretrained(Config.MODEL_NAME)\n", "gpu_preferred"),
])
def test_values_from_dict_tables_and_settings_classes(tmp_path, code, expected):
    assert classify(tmp_path, code).mode == expected
