import numpy as np
import torch

from ..utils import MeshRenderer


class HMR2:
    def __init__(self, cfg, init_renderer=True):
        self.cfg = cfg
        self.mesh_renderer = MeshRenderer(cfg) if init_renderer else None

    @classmethod
    def load_from_checkpoint(cls, checkpoint_path, strict=False, cfg=None):
        return cls(cfg)

    def eval(self):
        return self

    def __call__(self, batch):
        n = len(batch["img"])
        return {
            "pred_cam": torch.tensor(np.tile([[0.9, 0.1, 0.2]], (n, 1)).astype(np.float32)),
            "pred_keypoints_3d": torch.tensor(np.zeros((n, 44, 3), np.float32)),
            "pred_smpl_params": {"betas": torch.tensor(np.zeros((n, 10), np.float32))},
        }
