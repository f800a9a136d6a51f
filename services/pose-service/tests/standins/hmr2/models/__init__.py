"""Upstream hmr2/models/__init__.py at 6ec7965, with the network replaced: importing it imports
pyrender (through hmr2.utils), check_smpl_exists converts ./data/<original> without creating
the folder of its output."""
import os

import standin_record

standin_record.event("import hmr2.models", os.environ.get("PYOPENGL_PLATFORM"))

from ..configs import CACHE_DIR_4DHUMANS  # noqa: E402
from .hmr2 import HMR2  # noqa: E402


def download_models(folder=CACHE_DIR_4DHUMANS):
    os.makedirs(folder, exist_ok=True)
    if not os.path.exists(os.path.join(folder, "hmr2_data.tar.gz")):
        raise AssertionError("the stand-in cannot download hmr2_data.tar.gz: the service should have")


def check_smpl_exists():
    candidates = [
        f"{CACHE_DIR_4DHUMANS}/data/smpl/SMPL_NEUTRAL.pkl",
        "data/basicModel_neutral_lbs_10_207_0_v1.0.0.pkl",
    ]
    standin_record.event("check_smpl_exists", {
        "cwd": os.getcwd(),
        "dirs": sorted(root for root, _, _ in os.walk(CACHE_DIR_4DHUMANS)),
    })
    candidates_exist = [os.path.exists(c) for c in candidates]
    if not any(candidates_exist):
        raise FileNotFoundError("SMPL model not found. Please download it from https://smplify.is.tue.mpg.de/ "
                                f"and place it at {candidates[1]}")
    if (not candidates_exist[0]) and candidates_exist[1]:
        convert_pkl(candidates[1], candidates[0])
    return True


def convert_pkl(old_pkl, new_pkl):
    import pickle

    with open(old_pkl, "rb") as f:
        loaded = pickle.load(f, encoding="latin1")
    with open(new_pkl, "wb") as outfile:  # no makedirs, as upstream
        pickle.dump(loaded, outfile)


DEFAULT_CHECKPOINT = f"{CACHE_DIR_4DHUMANS}/logs/train/multiruns/hmr2/0/checkpoints/epoch=35-step=1000000.ckpt"


def load_hmr2(checkpoint_path=DEFAULT_CHECKPOINT, texture_model=False):
    from pathlib import Path

    from ..configs import get_config

    model_cfg = get_config(str(Path(checkpoint_path).parent.parent / "model_config.yaml"), update_cachedir=True)
    if (model_cfg.MODEL.BACKBONE.TYPE == "vit") and ("BBOX_SHAPE" not in model_cfg.MODEL):
        model_cfg.defrost()
        model_cfg.MODEL.BBOX_SHAPE = [192, 256]
        model_cfg.freeze()
    check_smpl_exists()
    return HMR2.load_from_checkpoint(checkpoint_path, strict=False, cfg=model_cfg), model_cfg
