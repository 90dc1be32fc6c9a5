import json

from datasets import Dataset
from transformers import (AutoModelForSequenceClassification, AutoTokenizer, Trainer, TrainingArguments)

BASE = "distilbert-base-uncased"


def handle(req):
    rows = json.loads(req)["rows"]
    tokenizer = AutoTokenizer.from_pretrained(BASE)
    data = Dataset.from_list(rows).map(lambda r: tokenizer(r["text"], truncation=True, padding="max_length",
                                                           max_length=256), batched=True)
    model = AutoModelForSequenceClassification.from_pretrained(BASE, num_labels=2)
    args = TrainingArguments(output_dir="/tmp/out", num_train_epochs=3, per_device_train_batch_size=16,
                             save_strategy="no", report_to=[])
    result = Trainer(model=model, args=args, train_dataset=data).train()
    return json.dumps({"training_loss": result.training_loss})
