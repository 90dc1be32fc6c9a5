import boto3


class storage:
    instance = None

    def __init__(self):
        self.client = boto3.client("s3")

    @staticmethod
    def get_instance():
        if storage.instance is None:
            storage.instance = storage()
        return storage.instance

    def download_directory(self, bucket, prefix, path):
        for obj in self.client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []):
            self.client.download_file(bucket, obj["Key"], f"{path}/{obj['Key'].rsplit('/', 1)[-1]}")

    def upload_stream(self, bucket, key, data):
        self.client.upload_fileobj(data, bucket, key)
        return key
