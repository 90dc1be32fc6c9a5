import torch
from torchvision import transforms
from ts.torch_handler.image_classifier import ImageClassifier


class DigitHandler(ImageClassifier):
    image_processing = transforms.Compose([transforms.Grayscale(), transforms.Resize((28, 28)), transforms.ToTensor(),
                                           transforms.Normalize((0.1307,), (0.3081,))])

    def postprocess(self, data):
        return data.argmax(1).tolist()
