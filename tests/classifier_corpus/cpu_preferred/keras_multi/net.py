from tensorflow import keras

_model = keras.applications.MobileNetV2(weights="imagenet")


def classify(batch):
    preds = _model.predict(keras.applications.mobilenet_v2.preprocess_input(batch), verbose=0)
    return [[label, float(p)] for _, label, p in keras.applications.mobilenet_v2.decode_predictions(preds, top=3)[0]]
