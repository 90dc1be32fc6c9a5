import functools

import joblib
from sklearn.ensemble import RandomForestClassifier  # noqa: F401  (the pickle's class)


@functools.lru_cache(maxsize=1)
def load():
    return joblib.load("iris_rf.joblib")
