import sagemaker
from sagemaker.pytorch import PyTorchModel

session = sagemaker.Session()
model = PyTorchModel(model_data="s3://models/tabular/model.tar.gz", role=sagemaker.get_execution_role(),
                     entry_point="inference.py", source_dir="code", framework_version="2.1", py_version="py310")
predictor = model.deploy(initial_instance_count=1, instance_type="ml.m5.large", endpoint_name="tabular-cpu")
