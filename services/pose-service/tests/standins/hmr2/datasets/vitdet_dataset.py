import numpy as np
import torch

import standin_record

from .utils import expand_to_aspect_ratio


class ViTDetDataset(torch.utils.data.Dataset):
    """Upstream's crop maths for the box size, and its print of one line per person."""

    def __init__(self, cfg, img_cv2, boxes, train=False, **kwargs):
        self.cfg = cfg
        self.img_cv2 = img_cv2
        self.img_size = cfg.MODEL.IMAGE_SIZE
        boxes = boxes.astype(np.float32)
        self.center = (boxes[:, 2:4] + boxes[:, 0:2]) / 2.0
        self.scale = (boxes[:, 2:4] - boxes[:, 0:2]) / 200.0
        self.personid = np.arange(len(boxes), dtype=np.int32)
        standin_record.event("ViTDetDataset cfg", cfg)

    def __len__(self):
        return len(self.personid)

    def __getitem__(self, idx):
        BBOX_SHAPE = self.cfg.MODEL.get("BBOX_SHAPE", None)
        bbox_size = expand_to_aspect_ratio(self.scale[idx] * 200, target_aspect_ratio=BBOX_SHAPE).max()
        downsampling_factor = (bbox_size * 1.0) / self.img_size
        print(f"{downsampling_factor=}")
        standin_record.event("crop size", float(bbox_size))
        return {
            "img": np.zeros((3, 4, 4), np.float32),
            "personid": int(self.personid[idx]),
            "box_center": self.center[idx].copy(),
            "box_size": bbox_size,
            "img_size": 1.0 * np.array([self.img_cv2.shape[1], self.img_cv2.shape[0]]),
        }
