import datetime
import os
import stat
import subprocess

SCRIPT_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__)))
FFMPEG = os.path.join(SCRIPT_DIR, "ffmpeg", "ffmpeg")


def call_ffmpeg(args):
    ret = subprocess.run([FFMPEG, "-y"] + args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    if ret.returncode != 0:
        raise RuntimeError(ret.stdout.decode("utf-8"))


def to_gif(video, duration):
    output = "/tmp/processed-{}.gif".format(os.path.basename(video))
    call_ffmpeg(["-i", video, "-t", "{0}".format(duration), "-vf", "fps=10,scale=320:-1:flags=lanczos", "-loop", "0",
                 output])
    return output


def handler(event):
    os.chmod(FFMPEG, os.stat(FFMPEG).st_mode | stat.S_IEXEC)
    begin = datetime.datetime.now()
    output = to_gif(event["video"], event.get("duration", 5))
    return {"result": {"key": output}, "measurement": {"compute_time": (datetime.datetime.now() - begin).seconds}}
