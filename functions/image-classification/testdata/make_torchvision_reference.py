"""Regenerate torchvision_reference.json from a torchvision wheel, without importing torchvision's C ops.

torchvision cannot be imported beside every torch build (its operator registration fails), but its pure-Python
modules can: this script loads torchvision.models.resnet and torchvision.transforms._presets straight from
an unpacked wheel and records what the tests compare against.

    pip download --no-deps -d /tmp/tv torchvision==0.29.1 && unzip -q -d /tmp/tvx /tmp/tv/torchvision-*.whl
    python make_torchvision_reference.py /tmp/tvx/torchvision > torchvision_reference.json
"""

import importlib
import json
import sys
import types

from PIL import Image

# The image the tests rebuild: an arithmetic pattern, so it needs no random generator to be reproduced.
PATTERN_SIZES = [(300, 400), (999, 333)]
SAMPLE_POINTS = [(0, 0), (0, 223), (223, 0), (223, 223), (17, 101), (112, 112), (200, 31), (64, 190)]


def pattern_image(width: int, height: int) -> Image.Image:
    pixels = bytearray()
    for y in range(height):
        for x in range(width):
            pixels += bytes(((x * 7 + y * 3) % 256, (x * x + y) % 256, (x ^ y) % 256))
    return Image.frombytes("RGB", (width, height), bytes(pixels))


def main(torchvision_dir: str) -> None:
    for name, path in [("torchvision", torchvision_dir), ("torchvision.models", torchvision_dir + "/models")]:
        package = types.ModuleType(name)
        package.__path__ = [path]
        sys.modules[name] = package
    resnet = importlib.import_module("torchvision.models.resnet")
    presets = importlib.import_module("torchvision.transforms._presets")
    state_dict = resnet.resnet18().state_dict()
    preprocess = presets.ImageClassification(crop_size=224, resize_size=256)
    images = []
    for width, height in PATTERN_SIZES:
        tensor = preprocess(pattern_image(width, height))
        images.append({
            "size": [width, height],
            "channel_sums": tensor.sum(dim=(1, 2)).tolist(),
            "samples": [[y, x, tensor[:, y, x].tolist()] for y, x in SAMPLE_POINTS],
        })
    reference = {
        "state_dict": [[key, list(value.shape), str(value.dtype).removeprefix("torch.")] for key, value in state_dict.items()],
        "preprocess": images,
    }
    json.dump(reference, sys.stdout, indent=1)


if __name__ == "__main__":
    main(sys.argv[1])
