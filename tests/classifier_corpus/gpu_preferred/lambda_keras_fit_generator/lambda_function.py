import json
import os

import boto3
from tensorflow import keras
from tensorflow.keras.preprocessing.image import ImageDataGenerator

s3 = boto3.client("s3")


def build_model():
    base = keras.applications.ResNet50(include_top=False, input_shape=(1024, 1024, 3), weights=None)
    x = keras.layers.GlobalAveragePooling2D()(base.output)
    out = keras.layers.Dense(2, activation="softmax")(x)
    model = keras.Model(base.input, out)
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def lambda_handler(event, context):
    data_dir = "/tmp/data"
    os.system(f"aws s3 sync s3://{event['bucket']}/{event['prefix']} {data_dir}")
    generator = ImageDataGenerator(rescale=1 / 255.0).flow_from_directory(data_dir, target_size=(1024, 1024),
                                                                          batch_size=16)
    model = build_model()
    history = model.fit_generator(generator, steps_per_epoch=len(generator), epochs=int(event.get("epochs", 5)))
    model.save("/tmp/model.h5")
    s3.upload_file("/tmp/model.h5", event["bucket"], "models/model.h5")
    return {"statusCode": 200, "body": json.dumps({"accuracy": history.history["accuracy"][-1]})}
