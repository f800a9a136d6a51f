"""2D joints in the colour image's pixels, from what HMR 2.0 returns for a person's crop.

HMR 2.0 sees each person through a square crop: side `box_size` pixels of the full image
around `box_center` (the detector's box widened to 192:256, its longer side), resized to
MODEL.IMAGE_SIZE (256). Its `pred_keypoints_2d` are the 3D joints projected into that crop with
the crop's camera, in crop units: (0, 0) is the crop's centre, ±0.5 its edges (the training
targets are `pixel / 256 - 0.5`). So a joint's pixel in the full image is
`box_center + keypoint * box_size`: no camera model needed, and exactly the crop the network saw.

The joints are the 44 of HMR 2.0's SMPL wrapper: the 25 of OpenPose BODY_25 first (what the
live view draws), then 19 extra (SMPL/H36M-style: ankles, knees, hips, wrists … head top)."""

from __future__ import annotations

from typing import Any

import numpy as np

OPENPOSE_25 = 25


def crop_to_image(keypoints: Any, box_center: Any, box_size: Any) -> np.ndarray:
    """(N, J, 2) crop-normalised keypoints of N crops → (N, J, 2) pixels of the full image.
    `box_center` is (N, 2) pixels, `box_size` (N,) pixels (the crop's side)."""
    kp = np.asarray(keypoints, dtype=np.float64)
    center = np.asarray(box_center, dtype=np.float64).reshape(-1, 1, 2)
    size = np.asarray(box_size, dtype=np.float64).reshape(-1, 1, 1)
    if kp.ndim != 3 or kp.shape[-1] != 2 or kp.shape[0] != center.shape[0] or kp.shape[0] != size.shape[0]:
        raise ValueError(f"keypoints {kp.shape}, centres {center.shape[:1]}, sizes {size.shape[:1]}: "
                         "expected (N, J, 2), N centres and N sizes")
    return center + kp * size


def project(points: Any, cam_t: Any, focal: float, image_size: tuple[float, float]) -> np.ndarray:
    """Pinhole projection of (N, J, 3) camera-space points translated by (N, 3) `cam_t`, the
    principal point at the image centre: how HMR 2.0's demo renders people in the full image
    (with `cam_crop_to_full`'s translation and focal = FOCAL_LENGTH / IMAGE_SIZE × max(w, h))."""
    p = np.asarray(points, dtype=np.float64) + np.asarray(cam_t, dtype=np.float64).reshape(-1, 1, 3)
    centre = np.array(image_size, dtype=np.float64) / 2.0
    return focal * p[..., :2] / p[..., 2:3] + centre


def rounded(points: np.ndarray, digits: int = 1) -> list:
    """JSON-ready pixels: a tenth of a pixel is finer than any detector's error."""
    return np.round(points, digits).tolist()
