"""image-classification: ResNet-18 ImageNet classification of one base64-encoded image.

Request: {"image": "<base64 of a JPEG/PNG/... file>"} (a "data:image/...;base64," prefix is accepted).
Weights: WEIGHTS_PATH (a torchvision ResNet-18 state_dict, .pth or .safetensors), else
resnet18-f37072fd.pth in this folder's weights/ or in torch hub's checkpoint cache (where torchvision's own
loader saves it). Without any, the model runs randomly initialised and every response says so.
"""

import base64
import binascii
import io
import json
import logging
import os
from pathlib import Path

import torch
from PIL import Image, UnidentifiedImageError

from .resnet import ResNet18

HERE = Path(__file__).resolve().parent
WEIGHTS_FILE_NAME = "resnet18-f37072fd.pth"  # torchvision's ResNet18_Weights.IMAGENET1K_V1
LABELS = (HERE / "imagenet_classes.txt").read_text(encoding="utf-8").splitlines()

# torchvision's ImageClassification preset for ResNet-18.
RESIZE_SIZE = 256
CROP_SIZE = 224
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

MAX_IMAGE_BYTES = 10 * 1024 * 1024
# Decoding is lazy: the header gives the size, so a small file that would expand to gigabytes is refused early.
MAX_IMAGE_PIXELS = 40_000_000

log = logging.getLogger("image-classification")

model = None
device = None
weights_source = None


class BadRequest(ValueError):
    """The request cannot be served as sent; the message tells the caller what to change."""


def find_weights() -> Path | None:
    explicit = os.environ.get("WEIGHTS_PATH")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise FileNotFoundError(f"WEIGHTS_PATH={explicit} is not a file")
        return path
    for candidate in (HERE / "weights" / WEIGHTS_FILE_NAME, Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_FILE_NAME):
        if candidate.is_file():
            return candidate
    return None


def read_state_dict(path: Path) -> dict:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    return torch.load(path, map_location="cpu", weights_only=True)


def build_resnet18() -> torch.nn.Module:
    try:
        from torchvision.models import resnet18
    except (ImportError, RuntimeError):
        # RuntimeError: a torchvision built for another torch fails while registering its operators.
        return ResNet18()
    return resnet18(weights=None)


def load_model(weights: Path | None) -> torch.nn.Module:
    network = build_resnet18()
    if weights is not None:
        try:
            network.load_state_dict(read_state_dict(weights), strict=True)
        except RuntimeError as exc:
            raise RuntimeError(f"{weights} is not a torchvision ResNet-18 state_dict: {exc}") from None
    return network.eval()


def decode_image(body: bytes) -> Image.Image:
    try:
        request = json.loads(body or b"")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(f'body must be JSON like {{"image": "<base64>"}} ({exc})') from None
    if not isinstance(request, dict):
        raise BadRequest('body must be a JSON object like {"image": "<base64>"}')
    if "image" not in request:
        raise BadRequest('missing field "image" (the image file, base64-encoded)')
    encoded = request["image"]
    if not isinstance(encoded, str) or not encoded.strip():
        raise BadRequest('"image" must be a non-empty base64 string')
    if encoded.startswith("data:"):
        encoded = encoded.partition(",")[2]
    try:
        data = base64.b64decode("".join(encoded.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadRequest(f'"image" is not valid base64 ({exc})') from None
    if len(data) > MAX_IMAGE_BYTES:
        raise BadRequest(f'"image" is {len(data)} bytes; at most {MAX_IMAGE_BYTES} are accepted')
    # Pillow reports corrupt or unsupported data as OSError, ValueError or SyntaxError depending on the format.
    unreadable = (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError)
    try:
        image = Image.open(io.BytesIO(data))
    except unreadable as exc:
        raise BadRequest(f'"image" is not a readable image file ({exc})') from None
    if image.width * image.height > MAX_IMAGE_PIXELS:
        raise BadRequest(f"image is {image.width}x{image.height} pixels; at most {MAX_IMAGE_PIXELS} pixels are accepted")
    try:
        return image.convert("RGB")
    except unreadable as exc:
        raise BadRequest(f'"image" is not a readable image file ({exc})') from None


def preprocess(image: Image.Image) -> torch.Tensor:
    """torchvision's ImageClassification(crop_size=224) on a PIL image: a normalised 3x224x224 float tensor."""
    width, height = image.size
    short, long = min(width, height), max(width, height)
    new_long = int(RESIZE_SIZE * long / short)
    size = (RESIZE_SIZE, new_long) if width <= height else (new_long, RESIZE_SIZE)
    image = image.resize(size, Image.BILINEAR)
    left = int(round((image.width - CROP_SIZE) / 2.0))
    top = int(round((image.height - CROP_SIZE) / 2.0))
    image = image.crop((left, top, left + CROP_SIZE, top + CROP_SIZE))
    pixels = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8).view(CROP_SIZE, CROP_SIZE, 3)
    tensor = pixels.permute(2, 0, 1).float() / 255
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return (tensor - mean) / std


def init(context):
    global model, device, weights_source
    target = torch.device(context.device)
    weights = find_weights()
    network = load_model(weights).to(target)
    if weights is None:
        log.warning("no ResNet-18 weights found (set WEIGHTS_PATH): classifying with random initialisation")
    # The first forward pass pays for kernel selection and memory pools; do it before the worker is ready.
    with torch.inference_mode():
        network(torch.zeros(1, 3, CROP_SIZE, CROP_SIZE, device=target))
    model, device, weights_source = network, target, str(weights) if weights else None


def handle(event, context):
    try:
        image = decode_image(event.body)
    except BadRequest as exc:
        return {"statusCode": 400, "body": {"error": str(exc)}}
    batch = preprocess(image).unsqueeze(0).to(device)
    with torch.inference_mode():
        probabilities = torch.softmax(model(batch)[0], dim=0).cpu()
    top = torch.topk(probabilities, 5)
    top5 = [
        {"class_index": int(index), "label": LABELS[index], "probability": float(probability)}
        for probability, index in zip(top.values.tolist(), top.indices.tolist())
    ]
    body = {**top5[0], "top5": top5, "device": device.type, "weights": weights_source, "random_init": weights_source is None}
    if weights_source is None:
        body["note"] = "no weights were found: the model is randomly initialised and its labels are meaningless"
    return {"statusCode": 200, "body": body}
