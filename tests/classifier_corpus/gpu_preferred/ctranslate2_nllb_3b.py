import json

import ctranslate2
import transformers

translator = ctranslate2.Translator("/models/nllb-200-3.3B-ct2", device="auto")
tokenizer = transformers.AutoTokenizer.from_pretrained("facebook/nllb-200-3.3B", src_lang="eng_Latn")


def handle(req):
    body = json.loads(req)
    source = tokenizer.convert_ids_to_tokens(tokenizer.encode(body["text"]))
    result = translator.translate_batch([source], target_prefix=[[body.get("target", "deu_Latn")]], beam_size=4)
    target = result[0].hypotheses[0][1:]
    return json.dumps({"translation": tokenizer.decode(tokenizer.convert_tokens_to_ids(target))})
