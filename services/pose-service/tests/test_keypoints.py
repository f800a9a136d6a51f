"""HMR 2.0's 2D joints, from its crop back to the colour image: against crops made the way
4D-Humans makes them (ViTDetDataset: the detector's box widened to 192:256, its longer side
the square crop's side, an affine warp from three point pairs to 256x256), and against the
demo's full-image camera (cam_crop_to_full + pinhole projection)."""

from __future__ import annotations

import numpy as np
import pytest

from pose_service import keypoints

PATCH = 256  # MODEL.IMAGE_SIZE
FOCAL = 5000.0  # EXTRA.FOCAL_LENGTH


def crop_side(box) -> float:
    """upstream expand_to_aspect_ratio(box size, [192, 256]).max()"""
    w, h = box[2] - box[0], box[3] - box[1]
    if h / w < 256 / 192:
        h = max(w * 256 / 192, h)
    else:
        w = max(h * 192 / 256, w)
    return max(w, h)


def affine(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2x3 matrix taking three points to three points (cv2.getAffineTransform)."""
    a = np.hstack([src, np.ones((3, 1))])
    return np.linalg.solve(a, dst).T


def crop(image: np.ndarray, center, side: float) -> np.ndarray:
    """upstream generate_image_patch_cv2 without rotation or flip: the transform from the
    centre and the half-way points down and right, then every patch pixel sampled from the
    image (nearest; zeros outside, BORDER_CONSTANT)."""
    c = np.asarray(center, float)
    src = np.array([c, c + [0, side / 2], c + [side / 2, 0]])
    dst = np.array([[PATCH / 2, PATCH / 2], [PATCH / 2, PATCH], [PATCH, PATCH / 2]])
    back = affine(dst, src)  # patch pixel → image pixel
    v, u = np.mgrid[0:PATCH, 0:PATCH]
    xy = back @ np.stack([u.ravel(), v.ravel(), np.ones(u.size)])
    x, y = np.rint(xy).astype(int)
    inside = (x >= 0) & (x < image.shape[1]) & (y >= 0) & (y < image.shape[0])
    patch = np.zeros(PATCH * PATCH, image.dtype)
    patch[inside] = image[y[inside], x[inside]]
    return patch.reshape(PATCH, PATCH)


def marked_image(points, w=1280, h=720, radius=6) -> np.ndarray:
    """Discs of value 1, 2, … at the points."""
    img = np.zeros((h, w), np.uint8)
    yy, xx = np.mgrid[0:h, 0:w]
    for k, (px, py) in enumerate(points, start=1):
        img[(xx - px) ** 2 + (yy - py) ** 2 <= radius ** 2] = k
    return img


def found_in_patch(patch: np.ndarray, count: int) -> np.ndarray:
    """Each marker's centroid in the patch, in crop units (what HMR 2.0 predicts)."""
    out = []
    for k in range(1, count + 1):
        v, u = np.nonzero(patch == k)
        assert len(u), f"marker {k} is outside the crop"
        out.append([u.mean() / PATCH - 0.5, v.mean() / PATCH - 0.5])
    return np.array(out)


@pytest.mark.parametrize("box", [
    (900.0, 100.0, 1100.0, 650.0),   # a standing person: the crop is as tall as the box
    (100.0, 300.0, 700.0, 560.0),    # lying down: the crop is as wide as the box
    (1180.0, 400.0, 1300.0, 760.0),  # cut by the frame's edge: the crop is padded
    (600.0, 330.0, 660.0, 410.0),    # far away: the crop is enlarged (side < 256)
])
def test_joints_found_in_a_crop_land_on_their_pixels_in_the_frame(box):
    center = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
    side = crop_side(box)
    inside = lambda p: 0 <= p[0] < 1280 and 0 <= p[1] < 720  # noqa: E731
    joints = [p for p in [(box[0] + 10, box[1] + 12), center, (box[2] - 8, box[3] - 20),
                          (center[0] + 0.3 * (box[2] - box[0]), box[1] + 5)] if inside(p)]
    patch = crop(marked_image(joints), center, side)
    in_crop = found_in_patch(patch, len(joints))
    assert np.abs(in_crop).max() <= 0.5
    back = keypoints.crop_to_image(in_crop[None], [center], [side])[0]
    # Nearest sampling moves a centroid by at most half a crop pixel: side/512 image pixels.
    assert np.abs(back - np.array(joints)).max() <= max(side / 512, 0.5) + 0.5


def test_several_crops_at_once_each_use_their_own_box():
    kp = np.array([[[0.0, 0.0], [0.5, -0.5]], [[-0.5, 0.25], [0.0, 0.0]]])
    out = keypoints.crop_to_image(kp, [[100, 200], [640, 360]], [400, 128])
    assert out.tolist() == [[[100, 200], [300, 0]], [[576, 392], [640, 360]]]


def test_shapes_that_do_not_fit_are_named():
    with pytest.raises(ValueError, match=r"expected \(N, J, 2\), N centres and N sizes"):
        keypoints.crop_to_image(np.zeros((2, 44, 2)), [[0, 0]], [1, 2])


def cam_crop_to_full(cam, center, size, img_w, img_h, focal):
    """upstream hmr2.utils.renderer.cam_crop_to_full, one person."""
    bs = size * cam[0] + 1e-9
    return np.array([2 * (center[0] - img_w / 2) / bs + cam[1], 2 * (center[1] - img_h / 2) / bs + cam[2],
                     2 * focal / bs])


def test_the_crop_mapping_agrees_with_the_demos_full_image_camera():
    """HMR 2.0's own 2D output (its joints projected with the crop camera, in crop units)
    mapped back lands where the demo's full-image camera projects the same joints."""
    rng = np.random.default_rng(7)
    joints = rng.uniform([-0.4, -0.9, -0.15], [0.4, 0.9, 0.15], (44, 3))  # metres around the pelvis
    cam, center, side, (w, h) = np.array([0.85, 0.05, 0.1]), (1000.0, 375.0), 550.0, (1280, 720)
    t_crop = np.array([cam[1], cam[2], 2 * FOCAL / (PATCH * cam[0])])
    p = joints + t_crop
    crop_2d = (FOCAL / PATCH) * p[:, :2] / p[:, 2:3]  # hmr2 forward_step's pred_keypoints_2d
    mapped = keypoints.crop_to_image(crop_2d[None], [center], [side])[0]
    focal_full = FOCAL / PATCH * max(w, h)
    t_full = cam_crop_to_full(cam, center, side, w, h, focal_full)
    projected = keypoints.project(joints[None], t_full[None], focal_full, (w, h))[0]
    assert np.abs(mapped - projected).max() < 2.0  # the two cameras' perspective differs slightly
    assert np.ptp(mapped[:, 1]) > 300  # and the joints span a body, not a point


def test_pixels_are_rounded_to_a_tenth():
    assert keypoints.rounded(np.array([[1.234, 5.678]])) == [[1.2, 5.7]]
