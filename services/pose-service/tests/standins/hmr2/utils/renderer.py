import os

if "PYOPENGL_PLATFORM" not in os.environ:
    os.environ["PYOPENGL_PLATFORM"] = "egl"
import numpy as np
import pyrender  # noqa: F401


class Renderer:
    pass


def cam_crop_to_full(cam_bbox, box_center, box_size, img_size, focal_length=5000.0):
    import torch

    img_w, img_h = img_size[:, 0], img_size[:, 1]
    cx, cy, b = box_center[:, 0], box_center[:, 1], box_size
    bs = b * cam_bbox[:, 0] + 1e-9
    tz = 2 * focal_length / bs
    tx = (2 * (cx - img_w / 2.0) / bs) + cam_bbox[:, 1]
    ty = (2 * (cy - img_h / 2.0) / bs) + cam_bbox[:, 2]
    return torch.tensor(np.stack([tx, ty, tz], axis=-1))
