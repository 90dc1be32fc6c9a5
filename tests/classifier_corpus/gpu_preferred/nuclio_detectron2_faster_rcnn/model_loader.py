from detectron2 import model_zoo
from detectron2.config import get_cfg
from detectron2.engine import DefaultPredictor


class FasterRCNN:
    def __init__(self, config_name, threshold):
        cfg = get_cfg()
        cfg.merge_from_file(model_zoo.get_config_file(config_name))
        cfg.MODEL.WEIGHTS = model_zoo.get_checkpoint_url(config_name)
        cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = threshold
        cfg.MODEL.DEVICE = "cpu"
        self.predictor = DefaultPredictor(cfg)

    def detect(self, image):
        instances = self.predictor(image)["instances"]
        return [{"box": b.tolist(), "score": float(s)} for b, s in
                zip(instances.pred_boxes.tensor, instances.scores)]
