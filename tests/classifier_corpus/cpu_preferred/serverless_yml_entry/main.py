"""Fine-tune the classifier offline on a workstation, then copy the weights to the Lambda layer."""
import torch
from datasets import load_dataset
from transformers import AutoModelForSequenceClassification, Trainer, TrainingArguments

model = AutoModelForSequenceClassification.from_pretrained("roberta-large", num_labels=2).cuda()
data = load_dataset("amazon_polarity")
args = TrainingArguments("out", per_device_train_batch_size=32, num_train_epochs=3, fp16=True)
Trainer(model=model, args=args, train_dataset=data["train"]).train()
torch.save(model.state_dict(), "model.pt")
