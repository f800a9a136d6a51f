import numpy as np


def expand_to_aspect_ratio(input_shape, target_aspect_ratio=None):
    """Upstream: grows the box to the target aspect ratio (w, h); unchanged without one."""
    if target_aspect_ratio is None:
        return input_shape
    try:
        w, h = input_shape
    except (ValueError, TypeError):
        return input_shape
    w_t, h_t = target_aspect_ratio
    if h / w < h_t / w_t:
        h_new, w_new = max(w * h_t / w_t, h), w
    else:
        h_new, w_new = h, max(h * w_t / h_t, w)
    return np.array([w_new, h_new])


def expand_bbox_to_aspect_ratio(bbox, target_aspect_ratio=None):
    return bbox
