import urllib.request

URL = "https://github.com/xinntao/Real-ESRGAN/releases/download/v0.1.0/RealESRGAN_x4plus.pth"
urllib.request.urlretrieve(URL, "weights/RealESRGAN_x4plus.pth")
