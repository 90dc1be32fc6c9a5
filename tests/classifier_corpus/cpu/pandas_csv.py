import io

import pandas as pd


def handle(req):
    frame = pd.read_csv(io.StringIO(req))
    return frame.describe(include="all").to_json()
