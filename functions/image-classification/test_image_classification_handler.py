"""image-classification's handler called directly, plus its agreement with torchvision.

testdata/torchvision_reference.json was produced by testdata/make_torchvision_reference.py from the torchvision
0.29.1 wheel: the ResNet-18 state_dict layout and the preprocessing of two pattern images.
"""

import base64
import importlib
import io
import json
import sys
import types
from pathlib import Path

import pytest
import torch
from PIL import Image

HERE = Path(__file__).resolve().parent
REFERENCE = json.loads((HERE / "testdata" / "torchvision_reference.json").read_text())


def load_handler():
    # The runtime imports the folder as package `function`; a uniquely named package keeps relative imports working.
    package = types.ModuleType("image_classification_function")
    package.__path__ = [str(HERE)]
    sys.modules[package.__name__] = package
    return importlib.import_module("image_classification_function.handler")


handler = load_handler()
reference_script = importlib.util.spec_from_file_location("make_reference", HERE / "testdata" / "make_torchvision_reference.py")
make_reference = importlib.util.module_from_spec(reference_script)
reference_script.loader.exec_module(make_reference)
context = types.SimpleNamespace(device="cpu", hostname="localhost")


def call(body: bytes):
    event = types.SimpleNamespace(body=body, headers={}, method="POST", query={}, path="/")
    return handler.handle(event, context)


def encode(image: Image.Image, fmt: str = "PNG") -> str:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.fixture(autouse=True)
def no_weights_by_default(monkeypatch, tmp_path):
    # Point torch hub's cache at an empty folder so a checkpoint cached on this machine cannot change the results.
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.delenv("WEIGHTS_PATH", raising=False)


@pytest.fixture
def random_model():
    handler.init(context)
    return handler.model


def test_state_dict_matches_torchvision_resnet18():
    ours = [[key, list(value.shape), str(value.dtype).removeprefix("torch.")] for key, value in handler.ResNet18().state_dict().items()]
    assert ours == REFERENCE["state_dict"]


@pytest.mark.parametrize("case", REFERENCE["preprocess"], ids=lambda case: "x".join(map(str, case["size"])))
def test_preprocessing_matches_torchvision(case):
    tensor = handler.preprocess(make_reference.pattern_image(*case["size"]))
    assert tensor.shape == (3, 224, 224)
    assert torch.allclose(tensor.sum(dim=(1, 2)), torch.tensor(case["channel_sums"]), rtol=1e-5)
    for y, x, values in case["samples"]:
        assert torch.allclose(tensor[:, y, x], torch.tensor(values), atol=1e-6)


def test_labels_are_imagenets_1000_classes():
    assert len(handler.LABELS) == 1000
    assert handler.LABELS[0] == "tench" and handler.LABELS[207] == "golden retriever" and handler.LABELS[999] == "toilet tissue"


def test_without_weights_it_runs_random_and_says_so(random_model):
    response = call(json.dumps({"image": encode(Image.new("RGB", (320, 240), (200, 30, 30)))}).encode())
    assert response["statusCode"] == 200
    body = response["body"]
    assert body["random_init"] is True and body["weights"] is None
    assert "randomly initialised" in body["note"]
    assert 0 <= body["class_index"] < 1000 and body["label"] == handler.LABELS[body["class_index"]]
    assert [entry["class_index"] for entry in body["top5"]][0] == body["class_index"]
    assert len(body["top5"]) == 5
    probabilities = [entry["probability"] for entry in body["top5"]]
    assert probabilities == sorted(probabilities, reverse=True)
    assert body["device"] == "cpu"


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_weights_file_loads_strictly_and_drives_the_answer(tmp_path, monkeypatch, suffix):
    # A checkpoint whose fc layer always picks class 207, saved in the torchvision layout.
    torch.manual_seed(0)
    state_dict = handler.ResNet18().state_dict()
    state_dict["fc.weight"] = torch.zeros(1000, 512)
    state_dict["fc.bias"] = torch.zeros(1000)
    state_dict["fc.bias"][207] = 10.0
    path = tmp_path / f"resnet18{suffix}"
    if suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(state_dict, str(path))
    else:
        torch.save(state_dict, path)
    monkeypatch.setenv("WEIGHTS_PATH", str(path))
    handler.init(context)
    image = Image.frombytes("RGB", (64, 48), bytes(range(256)) * 36)
    body = call(json.dumps({"image": encode(image, "JPEG")}).encode())["body"]
    assert body["class_index"] == 207 and body["label"] == "golden retriever"
    assert body["random_init"] is False and body["weights"] == str(path) and "note" not in body


def test_torch_hub_cache_is_where_weights_are_found_without_weights_path(tmp_path):
    checkpoints = Path(torch.hub.get_dir()) / "checkpoints"
    assert checkpoints.is_relative_to(tmp_path), "the fixture's TORCH_HOME must keep this test out of the real cache"
    checkpoints.mkdir(parents=True)
    torch.save(handler.ResNet18().state_dict(), checkpoints / "resnet18-f37072fd.pth")
    assert handler.find_weights() == checkpoints / "resnet18-f37072fd.pth"


def test_weights_of_another_model_are_refused_with_the_keys(tmp_path, monkeypatch):
    path = tmp_path / "other.pth"
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7)}, path)
    monkeypatch.setenv("WEIGHTS_PATH", str(path))
    with pytest.raises(RuntimeError, match="(?s)not a torchvision ResNet-18 state_dict.*Missing key"):
        handler.init(context)


def test_missing_weights_path_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("WEIGHTS_PATH", str(tmp_path / "absent.pth"))
    with pytest.raises(FileNotFoundError, match="absent.pth is not a file"):
        handler.init(context)


def test_data_url_and_line_wrapped_base64_are_accepted(random_model):
    encoded = encode(Image.new("L", (300, 300), 128))
    wrapped = "\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))
    for image in (f"data:image/png;base64,{encoded}", wrapped):
        assert call(json.dumps({"image": image}).encode())["statusCode"] == 200


@pytest.mark.parametrize("mode, fmt", [("L", "PNG"), ("P", "GIF"), ("RGBA", "PNG"), ("I;16", "PNG"), ("CMYK", "JPEG"), ("RGB", "WEBP")])
def test_common_modes_and_formats_are_classified(random_model, mode, fmt):
    image = Image.new(mode, (200, 150))
    response = call(json.dumps({"image": encode(image, fmt)}).encode())
    assert response["statusCode"] == 200


def test_oversized_image_is_refused_before_decoding(random_model):
    huge = Image.new("1", (8000, 6000))
    response = call(json.dumps({"image": encode(huge)}).encode())
    assert response["statusCode"] == 400
    assert "8000x6000 pixels" in response["body"]["error"]


@pytest.mark.parametrize(
    "body, message",
    [
        (b"", "body must be JSON"),
        (b"not json", "body must be JSON"),
        (b'["abc"]', "JSON object"),
        (b'{"img": "abc"}', 'missing field "image"'),
        (b'{"image": 42}', "non-empty base64 string"),
        (b'{"image": ""}', "non-empty base64 string"),
        (b'{"image": "***"}', "not valid base64"),
        (json.dumps({"image": base64.b64encode(b"plain text, not an image").decode()}).encode(), "not a readable image"),
    ],
)
def test_bad_input_is_a_400_with_a_message(random_model, body, message):
    response = call(body)
    assert response["statusCode"] == 400
    assert message in response["body"]["error"]


def test_truncated_image_is_a_400(random_model):
    data = base64.b64decode(encode(Image.new("RGB", (300, 300), (1, 2, 3)), "JPEG"))
    response = call(json.dumps({"image": base64.b64encode(data[: len(data) // 2]).decode()}).encode())
    assert response["statusCode"] == 400
    assert "not a readable image" in response["body"]["error"]
