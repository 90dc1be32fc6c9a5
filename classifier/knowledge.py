"""What the classifier knows about libraries, model identities and tasks. Pure data and pure functions.

Sizes are parameter counts in billions, taken from the model cards of the named families; they only need to
be right to within the thresholds below, which decide whether one request is "heavy".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Qualified-name prefixes of libraries that cannot run without an NVIDIA GPU.
GPU_ONLY_LIBRARIES = {
    "aitemplate": "aitemplate",
    "apex": "apex",
    "auto_gptq": "auto_gptq",
    "awq": "awq",
    "bitsandbytes": "bitsandbytes",
    "cucim": "cucim",
    "cudf": "cudf",
    "cugraph": "cugraph",
    "cuml": "cuml",
    "cupy": "cupy",
    "cupyx": "cupy",
    "cusignal": "cusignal",
    "cuda": "cuda-python",
    "deepspeed": "deepspeed",
    "exllama": "exllama",
    "exllamav2": "exllamav2",
    "lmdeploy": "lmdeploy",
    "sglang": "sglang",
    "unsloth": "unsloth",
    "flash_attn": "flash_attn",
    "numba.cuda": "numba.cuda",
    "nvidia.dali": "nvidia.dali",
    "pycuda": "pycuda",
    "tensorrt": "tensorrt",
    "tensorrt_llm": "tensorrt_llm",
    "torch_tensorrt": "torch_tensorrt",
    "triton": "triton",
    "vllm": "vllm",
    "xformers": "xformers",
}

# Deep-learning and tensor frameworks: using one for anything at all is at least cpu_preferred.
DL_FRAMEWORKS = {
    "accelerate": "accelerate",
    "allennlp": "allennlp",
    "clip": "clip",
    "ctransformers": "ctransformers",
    "ctranslate2": "ctranslate2",
    "detectron2": "detectron2",
    "diffusers": "diffusers",
    "easyocr": "easyocr",
    "faster_whisper": "faster_whisper",
    "fastai": "fastai",
    "flair": "flair",
    "flax": "flax",
    "gpt4all": "gpt4all",
    "insightface": "insightface",
    "jax": "jax",
    "keras": "keras",
    "keras_cv": "keras",
    "lightning": "lightning",
    "llama_cpp": "llama_cpp",
    "mmdet": "mmdet",
    "mxnet": "mxnet",
    "nemo": "nemo",
    "onnxruntime": "onnxruntime",
    "open_clip": "open_clip",
    "openvino": "openvino",
    "optimum": "optimum",
    "paddle": "paddle",
    "paddleocr": "paddleocr",
    "peft": "peft",
    "pytorch_lightning": "lightning",
    "sam2": "sam2",
    "segment_anything": "segment_anything",
    "sentence_transformers": "sentence_transformers",
    "stanza": "stanza",
    "TTS": "TTS",
    "tensorflow": "tensorflow",
    "tensorflow_hub": "tensorflow",
    "tflite_runtime": "tflite_runtime",
    "timm": "timm",
    "torch": "torch",
    "torchaudio": "torchaudio",
    "torchvision": "torchvision",
    "transformers": "transformers",
    "ultralytics": "ultralytics",
    "whisper": "whisper",
    # Libraries built on one of the frameworks above, by family (their calls load and run models).
    # speech recognition
    "whisperx": "whisperx", "stable_whisper": "stable_whisper", "whisper_timestamped": "whisper_timestamped",
    "speechbrain": "speechbrain", "pyannote": "pyannote", "nemo_toolkit": "nemo", "funasr": "funasr",
    "insanely_fast_whisper": "insanely_fast_whisper", "silero": "silero", "silero_vad": "silero_vad",
    # super-resolution and restoration
    "realesrgan": "realesrgan", "RealESRGAN": "realesrgan", "basicsr": "basicsr", "gfpgan": "gfpgan",
    "codeformer": "codeformer", "super_image": "super_image", "facexlib": "facexlib", "rembg": "rembg",
    "transparent_background": "transparent_background", "iopaint": "iopaint", "lama_cleaner": "iopaint",
    # diffusion
    "k_diffusion": "k_diffusion", "compel": "compel", "controlnet_aux": "controlnet_aux", "ip_adapter": "ip_adapter",
    "ldm": "ldm", "sgm": "sgm", "invokeai": "invokeai",
    # text to speech
    "bark": "bark", "tortoise": "tortoise", "styletts2": "styletts2", "parler_tts": "parler_tts", "f5_tts": "f5_tts",
    "melo": "melo", "kokoro": "kokoro", "chatterbox": "chatterbox", "piper": "piper", "outetts": "outetts",
    "openvoice": "openvoice", "fish_speech": "fish_speech", "ChatTTS": "ChatTTS",
    # music and audio generation / separation
    "audiocraft": "audiocraft", "demucs": "demucs", "basic_pitch": "basic_pitch", "spleeter": "spleeter",
    "stable_audio_tools": "stable_audio_tools", "riffusion": "riffusion", "audioldm": "audioldm",
    # detection, segmentation, faces
    "yolov5": "yolov5", "yolox": "yolox", "mmcv": "mmcv", "mmseg": "mmseg", "mmpose": "mmpose",
    "groundingdino": "groundingdino", "effdet": "effdet", "deepface": "deepface", "facenet_pytorch": "facenet_pytorch",
    "mediapipe": "mediapipe", "kornia": "kornia", "monai": "monai", "torchmetrics": "torchmetrics",
    # OCR and documents
    "doctr": "doctr", "surya": "surya", "mmocr": "mmocr", "keras_ocr": "keras_ocr", "nougat": "nougat",
    "rapidocr_onnxruntime": "rapidocr", "rapidocr": "rapidocr", "marker": "marker", "docling": "docling",
    # embeddings and retrieval models
    "fastembed": "fastembed", "FlagEmbedding": "FlagEmbedding", "InstructorEmbedding": "InstructorEmbedding",
    "text2vec": "text2vec", "colbert": "colbert", "ragatouille": "ragatouille", "txtai": "txtai",
    # LLM serving and fine-tuning
    "mlc_llm": "mlc_llm", "petals": "petals", "lorax": "lorax", "trl": "trl", "axolotl": "axolotl",
    "simplet5": "simplet5", "happytransformer": "happytransformer", "simpletransformers": "simpletransformers",
    "ludwig": "ludwig", "keras_nlp": "keras", "keras_hub": "keras", "tf_keras": "keras", "gluonts": "gluonts",
    "chronos": "chronos", "neuralprophet": "neuralprophet", "torch_geometric": "torch_geometric", "dgl": "dgl",
    "spacy_transformers": "spacy_transformers", "argostranslate": "argostranslate",
}

# Libraries whose models are heavy per request whatever the size on the label: super-resolution upscales whole
# images (several TFLOPs per 512x512 input at 4x), audio generators decode thousands of tokens per clip, bark
# chains three ~300M transformers, diffusion runs tens of denoising steps.
HEAVY_LIBRARIES = {
    "realesrgan": "super-resolution upscaler", "basicsr": "super-resolution network", "gfpgan": "face restoration",
    "codeformer": "face restoration", "super_image": "super-resolution upscaler", "iopaint": "inpainting",
    "audiocraft": "music/audio generation", "stable_audio_tools": "audio diffusion", "riffusion": "audio diffusion",
    "audioldm": "audio diffusion", "bark": "text-to-audio generation", "tortoise": "text-to-speech (autoregressive)",
    "k_diffusion": "diffusion sampler", "ldm": "latent diffusion", "sgm": "latent diffusion", "invokeai": "diffusion",
    "compel": "diffusion prompt weighting", "controlnet_aux": "diffusion conditioning", "ip_adapter": "diffusion",
    "axolotl": "LLM fine-tuning", "trl": "LLM fine-tuning", "unsloth": "LLM fine-tuning", "petals": "LLM serving",
    "lorax": "LLM serving", "mlc_llm": "LLM serving", "demucs": "music source separation",
}
# Libraries whose model-size words follow whisper's (`load_model("large-v3")`).
WHISPER_LIKE = {"whisper", "faster_whisper", "whisperx", "stable_whisper", "whisper_timestamped",
                "insanely_fast_whisper"}
# Domain of a library's models, for model ids passed to its loaders.
LIBRARY_DOMAINS = {"speechbrain": "speech", "pyannote": "speech", "nemo": "speech", "funasr": "speech",
                   "fastembed": "text", "FlagEmbedding": "text", "InstructorEmbedding": "text", "text2vec": "text",
                   "colbert": "text", "txtai": "text", "simplet5": "llm", "happytransformer": "llm",
                   "simpletransformers": "text", "doctr": "vision", "surya": "vision", "yolov5": "vision",
                   "groundingdino": "vision", "deepface": "vision", "parler_tts": "speech", "melo": "speech",
                   "kokoro": "speech", "chatterbox": "speech", "TTS": "speech"}

# Platform SDKs, web frameworks, clients and utilities: known, and no local tensor work of their own.
PLAIN_LIBRARIES = {
    "runpod", "modal", "cog", "bentoml", "kserve", "potassium", "banana_dev", "azure", "nuclio_sdk", "fission",
    "flask", "fastapi", "starlette", "uvicorn", "gunicorn", "sanic", "aiohttp", "httpx", "requests", "urllib3",
    "boto3", "botocore", "google", "gcsfs", "s3fs", "pydantic", "yaml", "dotenv", "jinja2", "click", "typer",
    "tqdm", "dateutil", "pytz", "redis", "sqlalchemy", "psycopg2", "psycopg", "pymongo", "pymysql", "minio",
    "bs4", "lxml", "openai", "anthropic", "cohere", "text_generation", "huggingface_hub", "tiktoken", "tokenizers",
    "langchain", "langchain_core", "langchain_community", "langchain_openai", "llama_index", "pinecone", "qdrant_client",
    "chromadb", "weaviate", "joblib", "cloudpickle", "msgpack", "orjson", "ujson", "simplejson", "werkzeug",
    "mangum", "chalice", "functions_framework", "flask_cors", "waitress", "gevent", "prometheus_client", "structlog",
    "loguru", "sentry_sdk", "rich", "attr", "attrs", "marshmallow", "ffmpeg", "pydub", "soundfile", "librosa",
    "imageio", "skimage", "matplotlib", "seaborn", "plotly", "nltk", "gensim", "regex", "jsonschema", "tenacity",
    "datasets", "safetensors", "wandb", "mlflow", "pyarrow", "polars", "duckdb", "shapely", "geopandas", "pypdf",
    "PyPDF2", "fitz", "pytesseract", "docx", "openpyxl", "magic", "filetype", "Crypto", "jwt", "grpc", "google_cloud",
    "kubernetes", "docker", "paramiko", "fsspec", "smart_open", "tabulate", "termcolor", "colorama", "six",
    "typing_extensions", "packaging", "setuptools", "pkg_resources", "wheel", "pip", "IPython", "ipywidgets",
    "gradio", "streamlit", "albumentations", "supervision", "einops", "sentencepiece", "xxhash", "igraph", "networkx",
    "sympy", "tritonclient", "replicate", "together", "groq", "mistralai", "google_genai", "vertexai",
}

# Numeric and classic-ML libraries: reported as frameworks, but their light use is plain CPU work.
CPU_LIBRARIES = {
    "catboost": "catboost",
    "cv2": "opencv",
    "lightgbm": "lightgbm",
    "numba": "numba",
    "numpy": "numpy",
    "pandas": "pandas",
    "PIL": "pillow",
    "scipy": "scipy",
    "sklearn": "sklearn",
    "spacy": "spacy",
    "statsmodels": "statsmodels",
    "xgboost": "xgboost",
}

# Libraries whose tensors live on the GPU once created (for literal shapes), and numpy (which has no GPU).
TENSOR_MODULES = ("torch", "tensorflow", "jax", "cupy", "mxnet", "paddle")
TENSOR_FACTORIES = {"randn", "rand", "zeros", "ones", "empty", "full", "normal", "uniform", "random", "randint",
                    "random_normal", "random_uniform", "standard_normal", "eye", "arange"}
MATMUL_FUNCTIONS = {"matmul", "mm", "bmm", "einsum", "dot", "conv2d", "conv3d", "tensordot", "linalg"}

# Requirements lines (normalised names) that only make sense with an NVIDIA GPU.
GPU_REQUIREMENT_PATTERNS = [
    re.compile(p) for p in (
        r"^cupy(-cuda\w*)?$", r"^pycuda$", r"^tensorrt(-\w+)?$", r"^torch-tensorrt$", r"^vllm$", r"^flash-attn$",
        r"^xformers$", r"^bitsandbytes$", r"^(cudf|cuml|cugraph|cucim|cuvs|dask-cudf)(-cu\d+)?$", r"^tensorflow-gpu$",
        r"^auto-gptq$", r"^autoawq$", r"^exllamav?2?$", r"^nvidia-dali(-cuda\d+)?$", r"^deepspeed$", r"^apex$",
        r"^tensorrt-llm$", r"^numba-cuda$", r"^cuda-python$",
    )
]
GPU_EXTRAS = {"tensorflow": ("and-cuda",), "jax": ("cuda", "cuda11", "cuda12", "cuda11_pip", "cuda12_pip", "cuda12_local")}
# Requirements that point at a GPU build which still runs on CPU.
PORTABLE_GPU_REQUIREMENTS = {"onnxruntime-gpu", "llama-cpp-python", "faiss-gpu", "paddlepaddle-gpu", "mxnet-cu112"}
# Import names of requirements whose distribution name says something else.
REQUIREMENT_MODULES = {
    "flash-attn": "flash_attn", "auto-gptq": "auto_gptq", "autoawq": "awq", "torch-tensorrt": "torch_tensorrt",
    "tensorrt-llm": "tensorrt_llm", "cuda-python": "cuda", "numba-cuda": "numba", "tensorflow-gpu": "tensorflow",
    "onnxruntime-gpu": "onnxruntime", "llama-cpp-python": "llama_cpp", "faiss-gpu": "faiss", "paddlepaddle-gpu": "paddle",
    "mxnet-cu112": "mxnet", "opencv-python": "cv2", "opencv-python-headless": "cv2", "pillow": "PIL",
    "scikit-learn": "sklearn", "python-doctr": "doctr", "openai-whisper": "whisper", "pytorch": "torch",
    "nemo-toolkit": "nemo", "sentence-transformers": "sentence_transformers", "pyyaml": "yaml",
    "beautifulsoup4": "bs4", "scikit-image": "skimage", "protobuf": "google",
}
# Distributions at the root of the deep-learning stack: a package that requires one of them is a DL library.
DL_DISTRIBUTIONS = re.compile(
    r"^(torch|tensorflow(-cpu|-gpu|-intel|-macos)?|tf-keras|keras|jax|jaxlib|flax|onnxruntime(-gpu|-directml|-openvino)?"
    r"|cupy(-cuda\w*)?|paddlepaddle(-gpu)?|mxnet(-cu\w*)?|tflite-runtime|openvino|ctranslate2|llama-cpp-python"
    r"|mlx|vllm|tensorrt|triton)$")

# Programs a handler runs through subprocess that need an NVIDIA GPU (serving/training stacks, CUDA tools).
GPU_PROGRAMS = {"vllm": "vLLM server", "axolotl": "axolotl fine-tuning", "trtexec": "TensorRT", "nvcc": "CUDA compiler",
                "tritonserver": "Triton inference server", "text-generation-launcher": "TGI server",
                "sglang": "SGLang server", "trtllm-build": "TensorRT-LLM", "tensorrt_llm": "TensorRT-LLM",
                "deepspeed": "DeepSpeed launcher", "lmdeploy": "LMDeploy server", "gpu_burn": "gpu-burn",
                "nvidia-cuda-mps-control": "CUDA MPS", "unsloth": "unsloth fine-tuning"}
# Programs that use a GPU when there is one and are heavy per request.
HEAVY_PROGRAMS = {"torchrun": "distributed PyTorch run", "accelerate": "accelerate launch", "ollama": "Ollama LLM server",
                  "llama-server": "llama.cpp server", "llama-cli": "llama.cpp", "comfyui": "ComfyUI diffusion",
                  "autotrain": "AutoTrain fine-tuning", "tune": "torchtune fine-tuning", "litgpt": "LitGPT"}
# Programs a handler commonly runs that do no GPU work; any other program (`python /app/main.py`, a
# vendored binary) is work the classifier cannot see into.
PLAIN_PROGRAMS = {"ffmpeg", "ffprobe", "git", "tar", "zip", "unzip", "gzip", "curl", "wget", "aws", "gsutil", "az",
                  "ls", "cp", "mv", "rm", "mkdir", "cat", "echo", "sh", "bash", "pip", "pip3", "apt-get", "convert",
                  "magick", "pdftotext", "pdftoppm", "tesseract", "libreoffice", "soffice", "pandoc", "sox", "lame",
                  "exiftool", "gs", "wkhtmltopdf", "chromium", "node", "npm", "java", "rsync", "ssh", "scp", "kubectl",
                  "docker", "nvidia-smi", "sleep", "true", "df", "du", "uname", "which", "env", "date", "yt-dlp",
                  "youtube-dl", "http", "zstd", "xz", "openssl", "redis-cli", "psql", "mysql", "sqlite3"}
# Cloud ML instance types and accelerators with NVIDIA GPUs (SageMaker ml.g*/ml.p*, Azure ML NC/ND/NV,
# Vertex AI accelerator types).
GPU_INSTANCE = re.compile(r"^(ml\.(g\d|p\d)\w*\.|standard_n[cdv]\w*|nvidia[_-]|a2-|a3-|g2-|gpu)", re.IGNORECASE)
CPU_INSTANCE = re.compile(r"^(ml\.(t|m|c|r)\d\w*\.|standard_[def]\w*|n1-|n2-|e2-|c2-)", re.IGNORECASE)

# Arguments that put ffmpeg (and similar) on NVIDIA hardware.
GPU_PROGRAM_ARGUMENTS = re.compile(r"(nvenc|cuvid|nvdec|scale_cuda|scale_npp|hwaccel_output_format\s*cuda|^cuda$)")

# Numeric and classic-ML libraries

# Whole-request thresholds, in billions of parameters, above which a model is heavy for its domain.
HEAVY_PARAMS = {"text": 1.0, "llm": 1.0, "speech": 0.7, "vision": 0.3}
MANY_NEW_TOKENS = 256
LONG_MAX_LENGTH = 512
LARGE_BATCH = 128  # an upper bound in encode()/predict(); below this it rarely means bulk work
BIG_MATRIX_ELEMENTS = 2048 * 2048
REPEATED_MATRIX_ELEMENTS = 512 * 512
REPEATED_ITERATIONS = 10
LARGE_IMAGE_PIXELS = 1_000_000  # per input image: a CNN's work grows with the pixels (ResNet-50: ~80 GFLOPs at 1 MP)

# Torchvision / torch.hub names of models that take well over 15 GFLOPs per image.
HEAVY_TORCHVISION = re.compile(
    r"^(vit_[lh]_\d+|regnet_[xy]_(16|32|128)gf|convnext_large|efficientnet_b[67]|efficientnet_v2_[ml]|swin_v2_b|swin_b"
    r"|wide_resnet101_2|resnext101_(32x8d|64x4d)|(fasterrcnn|maskrcnn|keypointrcnn|retinanet|fcos)_resnet50\w*"
    r"|deeplabv3_resnet(50|101)|fcn_resnet(50|101)|raft_large|mvit_v\d_\w+|swin3d_\w+|s3d|r3d_18|r2plus1d_18"
    r"|mc3_18|ssd300_vgg16)$"
)
TORCHVISION_NAME = re.compile(
    r"^(resnet\d+|resnext\w+|wide_resnet\w+|vgg\d+(_bn)?|alexnet|squeezenet\w*|densenet\d+|googlenet|inception_v3"
    r"|mobilenet_v[23]\w*|shufflenet\w*|mnasnet\w*|efficientnet_\w+|regnet_\w+|vit_\w+|swin\w*|convnext_\w+|maxvit_t"
    r"|\w+rcnn\w*|retinanet\w*|fcos\w*|ssd\w*|deeplabv3\w*|fcn_\w+|lraspp\w*|raft_\w+|r3d_18|r2plus1d_18|mc3_18"
    r"|s3d|mvit\w*|swin3d\w*|get_model)$"
)
# tf.keras.applications constructors above ~15 GFLOPs per image.
HEAVY_KERAS_APPS = re.compile(r"^(EfficientNetB[67]|EfficientNetV2[ML]|ConvNeXt(Large|XLarge)|NASNetLarge)$")
KERAS_APP = re.compile(r"^(ResNet\w*|VGG\d+|Xception|Inception\w*|MobileNet\w*|DenseNet\d+|NASNet\w+|EfficientNet\w*"
                       r"|ConvNeXt\w+|RegNet\w+)$")

# transformers pipeline task -> domain of the default or given model.
PIPELINE_TASK_DOMAINS = {
    "text-generation": "llm", "text2text-generation": "llm", "summarization": "llm", "conversational": "llm",
    "image-text-to-text": "llm", "translation": "llm",
    "text-to-image": "diffusion", "image-to-image": "diffusion", "text-to-video": "diffusion",
    "automatic-speech-recognition": "speech", "text-to-speech": "speech", "text-to-audio": "speech",
    "audio-classification": "speech", "zero-shot-audio-classification": "speech",
    "image-classification": "vision", "object-detection": "vision", "image-segmentation": "vision",
    "depth-estimation": "vision", "zero-shot-image-classification": "vision", "zero-shot-object-detection": "vision",
    "mask-generation": "vision", "image-feature-extraction": "vision", "image-to-text": "vision",
    "visual-question-answering": "vision", "document-question-answering": "vision", "video-classification": "vision",
}

_DIFFUSION_MARKERS = ("stable-diffusion", "stable_diffusion", "stablediffusion", "sdxl", "sd-xl", "sd_xl", "sd-turbo",
                      "flux", "kandinsky", "diffusion", "controlnet", "latent-consistency", "lcm-lora", "pixart",
                      "playground-v", "deepfloyd", "animatediff", "stable-video", "wuerstchen", "dreamshaper",
                      "realistic_vision", "realistic-vision", "openjourney", "dall-e", "dalle", "stable-cascade",
                      "hunyuan", "cogvideo", "ltx-video", "sana_", "auraflow")
_SIZE_WORDS = {"tiny": 0.02, "mini": 0.03, "small": 0.06, "base": 0.11, "medium": 0.35, "large": 0.34, "xl": 1.5,
               "xxl": 11.0, "huge": 0.63, "giant": 1.0, "bigg": 2.5, "g": 1.0, "h": 0.63, "l": 0.3, "b": 0.09}
_TEXT_SIZE_WORDS = ("large", "xl", "xxl", "huge", "giant")
# open_clip / timm spell sizes as single letters: ViT-L-14, vit_h_14, ViT-bigG-14.
_VISION_SIZE_WORDS = _TEXT_SIZE_WORDS + ("l", "h", "g", "bigg")
# family marker -> (domain, size by size word, default size)
_FAMILIES: list[tuple[str, str, dict[str, float], float]] = [
    ("whisper", "speech", {"tiny": 0.039, "base": 0.074, "small": 0.244, "medium": 0.769, "large": 1.55,
                           "turbo": 0.809}, 0.074),
    ("wav2vec", "speech", {"base": 0.095, "large": 0.317, "xlsr": 0.317}, 0.095),
    ("hubert", "speech", {"base": 0.095, "large": 0.317, "xlarge": 1.0}, 0.095),
    ("speecht5", "speech", {}, 0.14),
    ("musicgen", "speech", {"small": 0.3, "medium": 1.5, "large": 3.3, "melody": 1.5}, 0.3),
    ("audiogen", "speech", {}, 1.5), ("xtts", "speech", {}, 0.47), ("parler", "speech", {"mini": 0.88, "large": 2.3}, 0.88),
    ("f5-tts", "speech", {}, 0.34), ("kokoro", "speech", {}, 0.08), ("canary", "speech", {}, 1.0),
    ("parakeet", "speech", {}, 0.6), ("esrgan", "vision", {}, 0.017),
    ("bark", "speech", {"small": 0.4}, 1.0),
    ("seamless", "speech", {}, 2.3),
    ("distilgpt2", "llm", {}, 0.082),
    ("gpt2", "llm", {"medium": 0.355, "large": 0.774, "xl": 1.5}, 0.124),
    ("gpt-neox", "llm", {}, 20.0), ("gpt-j", "llm", {}, 6.0), ("gptj", "llm", {}, 6.0), ("gpt-neo", "llm", {}, 1.3),
    ("phi-1-5", "llm", {}, 1.3), ("phi-1.5", "llm", {}, 1.3), ("phi-2", "llm", {}, 2.7), ("phi", "llm", {}, 3.8),
    ("tinyllama", "llm", {}, 1.1), ("smollm", "llm", {}, 0.36),
    ("llava", "llm", {}, 7.0), ("blip2", "llm", {}, 3.9), ("instructblip", "llm", {}, 7.0), ("idefics", "llm", {}, 8.0),
    ("llama", "llm", {}, 7.0), ("mistral", "llm", {}, 7.0), ("mixtral", "llm", {}, 47.0), ("zephyr", "llm", {}, 7.0),
    ("vicuna", "llm", {}, 7.0), ("falcon", "llm", {}, 7.0), ("mpt-", "llm", {}, 7.0), ("qwen", "llm", {}, 7.0),
    ("gemma", "llm", {}, 2.0), ("olmo", "llm", {}, 7.0), ("deepseek", "llm", {}, 7.0), ("starcoder", "llm", {}, 15.0),
    ("codellama", "llm", {}, 7.0), ("bloom", "llm", {}, 176.0), ("dolly", "llm", {}, 12.0), ("yi-", "llm", {}, 6.0),
    ("openchat", "llm", {}, 7.0), ("chatglm", "llm", {}, 6.0), ("baichuan", "llm", {}, 7.0),
    ("internlm", "llm", {}, 7.0), ("solar", "llm", {}, 10.7), ("orca", "llm", {}, 7.0), ("hermes", "llm", {}, 7.0),
    ("opt-", "llm", {}, 1.3), ("codegen", "llm", {}, 0.35), ("santacoder", "llm", {}, 1.1),
    ("flan-t5", "llm", {"small": 0.077, "base": 0.25, "large": 0.78, "xl": 3.0, "xxl": 11.0}, 0.25),
    ("t5", "llm", {"small": 0.06, "base": 0.22, "large": 0.77, "xl": 3.0, "xxl": 11.0}, 0.22),
    ("bart", "llm", {"base": 0.14, "large": 0.4}, 0.4), ("pegasus", "llm", {}, 0.57),
    ("opus-mt", "llm", {}, 0.075), ("marian", "llm", {}, 0.075), ("mbart", "llm", {}, 0.61), ("nllb", "llm", {}, 1.3),
    ("m2m100", "llm", {}, 0.42),
    ("sam-vit", "vision", {"base": 0.09, "large": 0.31, "huge": 0.64}, 0.09),
    ("segment-anything", "vision", {}, 0.64),
    ("clip", "vision", {"base": 0.15, "large": 0.43, "huge": 1.0, "bigg": 2.5, "b": 0.15, "l": 0.43, "h": 1.0,
                        "g": 1.4}, 0.15),
    ("siglip", "vision", {"base": 0.2, "large": 0.65, "so400m": 0.88}, 0.2),
    ("dinov2", "vision", {"small": 0.02, "base": 0.09, "large": 0.3, "giant": 1.1, "vits14": 0.02, "vitb14": 0.09,
                          "vitl14": 0.3, "vitg14": 1.1}, 0.09),
    ("blip", "vision", {"base": 0.25, "large": 0.47}, 0.25),
    ("yolo", "vision", {}, 0.03), ("detr", "vision", {}, 0.04), ("owl", "vision", {}, 0.15),
    ("vit", "vision", {}, 0.086), ("deit", "vision", {}, 0.086), ("beit", "vision", {}, 0.086),
    ("swin", "vision", {}, 0.088), ("convnext", "vision", {}, 0.089), ("segformer", "vision", {}, 0.03),
    ("dpt", "vision", {"large": 0.34, "hybrid": 0.12}, 0.12), ("depth-anything", "vision", {}, 0.1), ("mask2former", "vision", {}, 0.2),
    ("resnet", "vision", {}, 0.025), ("mobilenet", "vision", {}, 0.005), ("efficientnet", "vision", {}, 0.01),
    ("trocr", "vision", {"small": 0.06, "base": 0.25, "large": 0.56}, 0.25), ("donut", "vision", {}, 0.2), ("layoutlm", "vision", {}, 0.13),
    ("distilbert", "text", {}, 0.066), ("minilm", "text", {}, 0.033), ("mpnet", "text", {}, 0.11),
    ("roberta", "text", {}, 0.125), ("deberta", "text", {}, 0.18), ("albert", "text", {}, 0.012),
    ("electra", "text", {}, 0.11), ("bert", "text", {}, 0.11), ("bge", "text", {}, 0.11), ("gte", "text", {}, 0.11),
    ("e5", "text", {}, 0.11), ("nomic-embed", "text", {}, 0.14), ("jina-embeddings", "text", {}, 0.14),
]
_PARAM_COUNT = re.compile(r"(?<![a-z0-9.])(\d+(?:\.\d+)?)([bm])(?![a-z0-9])")
_EXPERTS = re.compile(r"(?<![a-z0-9.])(\d+)x(\d+(?:\.\d+)?)b(?![a-z0-9])")
# Detectron2 / MMDetection configs of two-stage and dense detectors (well over 15 GFLOPs per image).
HEAVY_DETECTOR_CONFIG = re.compile(r"(rcnn|retinanet|panoptic|cascade|mask2former|htc|detr_r101|solo)", re.IGNORECASE)
_TOKEN_SPLIT = re.compile(r"[/_\-.:\s]+")


@dataclass(frozen=True)
class ModelVerdict:
    """How heavy one request on a named model is."""

    heavy: bool
    domain: str
    params_b: float | None
    detail: str


# Model ids of weight formats whose kernels exist only for CUDA (GPTQ, AWQ, EXL2 quantisation).
GPU_WEIGHT_FORMAT = re.compile(r"(^|[-_./])(gptq|awq|exl2)([-_./]|$)", re.IGNORECASE)


def _params_from_digits(lowered: str) -> float | None:
    experts = _EXPERTS.search(lowered)
    if experts:
        return int(experts.group(1)) * float(experts.group(2)) * 0.85  # shared layers: ~85% of the product
    counts = [float(n) * (1.0 if unit == "b" else 0.001) for n, unit in _PARAM_COUNT.findall(lowered)]
    return max(counts) if counts else None


def _diffusion(lowered: str) -> bool:
    return any(marker in lowered for marker in _DIFFUSION_MARKERS) or lowered.split("/")[-1].startswith(("sd-", "sd1", "sd2", "sd3"))


def estimate_model(model_id: str, domain_hint: str | None = None) -> ModelVerdict | None:
    """Judge a model identity (hub id, file name, whisper size, timm/open_clip name); None if it says nothing."""
    lowered = model_id.strip().lower()
    if not lowered or len(lowered) > 300:
        return None
    if _diffusion(lowered) or domain_hint == "diffusion":
        return ModelVerdict(True, "diffusion", None, f"diffusion model {model_id!r}")
    tokens = [t for t in _TOKEN_SPLIT.split(lowered) if t]
    params = _params_from_digits(lowered)
    domain = None
    dashed = lowered.replace("_", "-")  # sam_vit_h, flan_t5_xl spell the family with underscores
    for marker, family_domain, sizes, default in _FAMILIES:
        if marker in dashed:
            domain = family_domain
            if params is None:
                named = [sizes[t] for t in tokens if t in sizes]
                if not named:
                    words = _VISION_SIZE_WORDS if family_domain == "vision" else _TEXT_SIZE_WORDS
                    named = [_SIZE_WORDS[t] for t in tokens if t in words]
                params = max(named) if named else default
            break
    if domain is None:
        domain = domain_hint
        if params is None:
            named = [_SIZE_WORDS[t] for t in tokens if t in _SIZE_WORDS and len(t) > 1]
            params = max(named) if named else None
    if domain is None or params is None:
        if params is not None and params >= 1.0:
            return ModelVerdict(True, "llm", params, f"model {model_id!r} (~{_fmt(params)} parameters)")
        return None
    heavy = params >= HEAVY_PARAMS.get(domain, 1.0)
    return ModelVerdict(heavy, domain, params, f"{domain} model {model_id!r} (~{_fmt(params)} parameters)")


def whisper_size(name: str) -> ModelVerdict | None:
    """`whisper.load_model("medium")` / faster-whisper `WhisperModel("large-v3")`: the size word is the id."""
    lowered = name.strip().lower()
    if "/" in lowered or "whisper" in lowered:
        return estimate_model(name, "speech")
    return estimate_model(f"whisper-{lowered}", "speech")


def _fmt(params_b: float) -> str:
    return f"{params_b:.1f}B" if params_b >= 1 else f"{params_b * 1000:.0f}M"


def domain_of_loader(class_name: str) -> str | None:
    """The domain a transformers/diffusers loader class implies (`AutoModelForCausalLM` -> llm)."""
    name = class_name.lower()
    if "pipeline" in name or "unet" in name or "autoencoderkl" in name or "diffusion" in name:
        return "diffusion"
    if any(k in name for k in ("whisper", "speech", "wav2vec", "audio", "hubert", "ctc", "musicgen", "bark")):
        return "speech"
    if any(k in name for k in ("causallm", "seq2seqlm", "llava", "vision2seq", "imagetexttotext", "generation")):
        return "llm"
    if any(k in name for k in ("image", "vision", "vit", "clip", "detr", "sam", "segment", "depth", "detection",
                                "blip", "yolo", "dino")):
        return "vision"
    return "text"


def pipeline_domain(task: str) -> str:
    lowered = task.lower()
    if lowered.startswith("translation"):
        return "llm"
    return PIPELINE_TASK_DOMAINS.get(lowered, "text")


def torchvision_verdict(name: str) -> ModelVerdict | None:
    if not TORCHVISION_NAME.match(name) or name == "get_model":
        return None
    if HEAVY_TORCHVISION.match(name):
        return ModelVerdict(True, "vision", None, f"large torchvision model {name}")
    return ModelVerdict(False, "vision", None, f"small torchvision model {name}")


def keras_application_verdict(name: str) -> ModelVerdict | None:
    if not KERAS_APP.match(name):
        return None
    if HEAVY_KERAS_APPS.match(name):
        return ModelVerdict(True, "vision", None, f"large Keras application {name}")
    return ModelVerdict(False, "vision", None, f"small Keras application {name}")


def device_kind(value) -> str | None:
    """'cuda', 'cpu' or None for one possible device value ("cuda:0", 0, "/GPU:0", "cpu", -1, "auto")."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return "cuda" if value >= 0 else "cpu"
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered.startswith(("cuda", "gpu", "/gpu", "/device:gpu", "device:gpu")) or lowered == "nvidia":
            return "cuda"
        if lowered in ("auto", "balanced", "balanced_low_0", "sequential"):
            return "auto"
        if lowered.startswith(("cpu", "/cpu", "/device:cpu", "mps", "xpu", "npu", "tpu")):
            return "cpu"
    return None


def gpu_requirement(name: str, extras: tuple[str, ...]) -> bool:
    if any(p.match(name) for p in GPU_REQUIREMENT_PATTERNS):
        return True
    return any(extra in GPU_EXTRAS.get(name, ()) for extra in extras)
