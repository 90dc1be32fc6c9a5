from doctr.io import DocumentFile
from doctr.models import ocr_predictor
from flask import request

predictor = ocr_predictor(det_arch="db_mobilenet_v3_large", reco_arch="crnn_mobilenet_v3_small", pretrained=True)


def main():
    pages = DocumentFile.from_images([request.get_data()])
    result = predictor(pages)
    return result.render()
