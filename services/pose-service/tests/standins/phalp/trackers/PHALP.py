"""PHALP's tracker: downloads its small files (printing), sets up the models (HMR, detector,
visualizer with its renderer), and `track` draws a progress bar, catches its own exceptions,
prints them and returns None."""
import os
import pickle
import traceback

from hmr2.datasets.utils import expand_bbox_to_aspect_ratio  # noqa: F401

import standin_record
from phalp.configs.base import CACHE_DIR
from phalp.utils import get_pylogger
from phalp.utils.utils import progress_bar
from phalp.utils.utils_download import _progress_bar
from phalp.visualize.postprocessor import Postprocessor  # noqa: F401
from phalp.visualize.visualizer import Visualizer

log = get_pylogger(__name__)


class Detector:
    def __call__(self, bgr):
        import numpy as np
        import torch

        class Boxes:
            tensor = torch.tensor(np.array([[10.0, 20.0, 310.0, 120.0], [0.0, 0.0, 5.0, 5.0]], np.float32))

        class Instances:
            pred_classes = torch.tensor(np.array([0, 0]))
            scores = torch.tensor(np.array([0.9, 0.2], np.float32))
            pred_boxes = Boxes()

        return {"instances": Instances()}


class PHALP:
    def __init__(self, cfg):
        self.cfg = cfg
        self.cached_download_from_drive()
        self.setup_hmr()
        self.setup_detectron2()
        self.setup_visualizer()

    def setup_hmr(self):
        raise NotImplementedError("HMR2_4dhuman overrides it")

    def setup_detectron2(self):
        log.info("Loading Detection model...")
        self.detector = Detector()
        self.setup_detectron2_with_RPN()

    def setup_detectron2_with_RPN(self):
        standin_record.event("X101 Mask R-CNN loaded")

    def setup_visualizer(self):
        self.visualizer = Visualizer(self.cfg, self.HMAR)

    def cached_download_from_drive(self):
        folder = os.path.join(CACHE_DIR, "phalp/3D")
        os.makedirs(folder, exist_ok=True)
        for name in ("head_faces.npy", "mean_std.npy"):
            path = os.path.join(folder, name)
            if not os.path.exists(path):
                print("Downloading file: " + name)
                for count in range(0, 3 * 8192 + 1, 8192):
                    _progress_bar(count, 3 * 8192)
                open(path, "wb").write(b"x")

    def get_detections(self, image, frame_name, t_, additional_data=None, measurments=None):
        return [], [], [], [], [], [], []

    def track(self):
        source = self.cfg.video.source
        name = os.path.basename(source).split(".")[0]
        frames, *flags = open(source).read().split()
        n = min(int(frames.split("=")[1]), self.cfg.video.end_frame)
        self.cfg.video_seq = name
        pkl_path = self.cfg.video.output_dir + "/results/" + self.cfg.track_dataset + "_" + name + ".pkl"
        os.makedirs(os.path.dirname(pkl_path), exist_ok=True)
        try:
            visuals = {}
            for t_, frame_name in progress_bar(enumerate([f"{i:06d}.jpg" for i in range(n)]),
                                               description="Tracking : " + name, total=n, disable=False):
                self.get_detections(None, frame_name, t_)
                if "fail" in flags and t_ == 1:
                    raise RuntimeError(f"CUDA error: an illegal memory access was encountered (frame {t_})")
                visuals[frame_name] = {"tid": [1, 2] if t_ else [1]}
            with open(pkl_path, "wb") as f:  # upstream: joblib.dump
                pickle.dump(visuals, f)
            return visuals, pkl_path
        except Exception as e:
            print(e)
            print(traceback.format_exc())
