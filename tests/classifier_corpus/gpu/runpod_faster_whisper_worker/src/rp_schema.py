INPUT_VALIDATIONS = {
    "audio": {"type": str, "required": True},
    "model": {"type": str, "required": False, "default": "large-v3"},
    "beam_size": {"type": int, "required": False, "default": 5},
}
