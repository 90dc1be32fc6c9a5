import base64
import io

import torchaudio
from audiocraft.models import MusicGen
from potassium import Potassium, Request, Response

app = Potassium("musicgen")


@app.init
def init():
    model = MusicGen.get_pretrained("facebook/musicgen-medium")
    return {"model": model}


@app.handler()
def handler(context: dict, request: Request) -> Response:
    model = context.get("model")
    model.set_generation_params(duration=request.json.get("duration", 20))
    wav = model.generate([request.json.get("prompt", "lofi beat")])
    buffer = io.BytesIO()
    torchaudio.save(buffer, wav[0].cpu(), model.sample_rate, format="wav")
    return Response(json={"audio": base64.b64encode(buffer.getvalue()).decode()}, status=200)


if __name__ == "__main__":
    app.serve()
