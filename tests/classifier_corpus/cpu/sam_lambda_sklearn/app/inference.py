"""Offline: distil the torch teacher into the scikit-learn model shipped with the function."""
import joblib
import torch
from sklearn.ensemble import GradientBoostingClassifier

teacher = torch.jit.load("teacher.pt").cuda().eval()
features = torch.load("features.pt").cuda()
with torch.no_grad():
    labels = teacher(features).argmax(dim=1).cpu().numpy()
joblib.dump(GradientBoostingClassifier().fit(features.cpu().numpy(), labels), "churn.joblib")
