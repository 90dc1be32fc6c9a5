# The function is deployed on GPU nodes only.
ACCELERATOR = "cuda:0"
