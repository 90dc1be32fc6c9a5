import numpy as np


def to_batch(pixels):
    return np.asarray(pixels, dtype=np.float32).reshape(1, 224, 224, 3)
