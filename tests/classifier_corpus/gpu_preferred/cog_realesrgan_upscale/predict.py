import cv2
from basicsr.archs.rrdbnet_arch import RRDBNet
from cog import BasePredictor, Input, Path
from realesrgan import RealESRGANer


class Predictor(BasePredictor):
    def setup(self):
        net = RRDBNet(num_in_ch=3, num_out_ch=3, num_feat=64, num_block=23, num_grow_ch=32, scale=4)
        self.upsampler = RealESRGANer(scale=4, model_path="weights/RealESRGAN_x4plus.pth", model=net,
                                      tile=0, pre_pad=0, half=True)

    def predict(self, image: Path = Input(description="low-resolution image"),
                scale: float = Input(default=4.0, ge=1.0, le=10.0)) -> Path:
        img = cv2.imread(str(image), cv2.IMREAD_UNCHANGED)
        output, _ = self.upsampler.enhance(img, outscale=scale)
        out_path = Path("/tmp/out.png")
        cv2.imwrite(str(out_path), output)
        return out_path
