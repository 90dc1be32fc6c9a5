def handle(event, context):
    return "declared gpu by its author"
