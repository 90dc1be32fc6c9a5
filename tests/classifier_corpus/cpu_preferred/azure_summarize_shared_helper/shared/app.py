"""Text helpers shared by the app's functions."""
import re
import unicodedata

_SPACES = re.compile(r"\s+")


def clean_text(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    return _SPACES.sub(" ", text).strip()
