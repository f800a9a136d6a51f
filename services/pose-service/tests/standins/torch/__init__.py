"""Stand-in for torch: only what pose_service.hmr2_runner calls."""
import contextlib
import types

import numpy as np

from . import cuda, utils  # noqa: F401

__version__ = "2.4.1+standin"
version = types.SimpleNamespace(cuda="12.1")


class Tensor(np.ndarray):
    def cpu(self):
        return self

    def numpy(self):
        return np.asarray(self)

    def float(self):
        return np.asarray(self, dtype=np.float32).view(Tensor)


def tensor(data, dtype=None):
    return np.asarray(data, dtype=dtype).view(Tensor)


class device:
    def __init__(self, kind):
        self.type = kind


def no_grad():
    return contextlib.nullcontext()
