"""4D-Humans' track.py at 6ec7965, with the networks replaced."""
from dataclasses import dataclass  # noqa: F401

from phalp.configs.base import FullConfig
from phalp.trackers.PHALP import PHALP
from phalp.utils import get_pylogger

from hmr2.datasets.utils import expand_bbox_to_aspect_ratio

log = get_pylogger(__name__)


class HMR2Predictor:
    def __init__(self, cfg):
        from hmr2.models import download_models, load_hmr2

        download_models()
        model, _ = load_hmr2()
        self.model = model
        self.model.eval()


class HMR2023TextureSampler(HMR2Predictor):
    pass


class HMR2_4dhuman(PHALP):
    def setup_hmr(self):
        self.HMAR = HMR2023TextureSampler(self.cfg)

    def get_detections(self, image, frame_name, t_, additional_data=None, measurments=None):
        out = super().get_detections(image, frame_name, t_, additional_data, measurments)
        expand_bbox_to_aspect_ratio(out[0], (192, 256))
        return out


class Human4DConfig(FullConfig):
    expand_bbox_shape = (192, 256)
