import os

CACHE_DIR = os.path.join(os.environ.get("HOME"), ".cache")
CACHE_DIR_4DHUMANS = os.path.join(CACHE_DIR, "4DHumans")


class CfgNode(dict):
    """yacs' CfgNode: a dict with attribute access."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name, value):
        self[name] = value

    def defrost(self):
        pass

    def freeze(self):
        pass


def get_config(config_file, merge=True, update_cachedir=False):
    """model_config.yaml of the HMR 2.0b checkpoint: no MODEL.BBOX_SHAPE."""
    return CfgNode(
        MODEL=CfgNode(IMAGE_SIZE=256, IMAGE_MEAN=[0.485, 0.456, 0.406], IMAGE_STD=[0.229, 0.224, 0.225],
                      BACKBONE=CfgNode(TYPE="vit")),
        EXTRA=CfgNode(FOCAL_LENGTH=5000),
        SMPL=CfgNode(MODEL_PATH=os.path.join(CACHE_DIR_4DHUMANS, "data/smpl")),
    )
