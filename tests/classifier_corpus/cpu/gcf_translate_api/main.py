import functions_framework
from google.cloud import translate_v2 as translate

client = translate.Client()


@functions_framework.http
def translate_text(request):
    body = request.get_json(silent=True) or {}
    result = client.translate(body.get("text", ""), target_language=body.get("target", "de"))
    return {"translation": result["translatedText"]}
