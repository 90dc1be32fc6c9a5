import datetime
import io
import os
import shutil
import uuid

from . import storage

client = storage.storage.get_instance()


def handler(event):
    bucket = event["bucket"]["bucket"]
    key = event["object"]["key"]
    download_path = f"/tmp/{key}-{uuid.uuid4()}"
    os.makedirs(download_path)
    begin = datetime.datetime.now()
    client.download_directory(bucket, event["bucket"]["input"] + "/" + key, download_path)
    archive = shutil.make_archive(os.path.join(download_path, key), "zip", root_dir=download_path)
    end = datetime.datetime.now()
    with open(archive, "rb") as f:
        key_name = client.upload_stream(bucket, f"{key}.zip", io.BytesIO(f.read()))
    return {"result": {"key": key_name}, "measurement": {"compute_time": (end - begin).total_seconds()}}
