import os
import types

CACHE_DIR = os.path.join(os.environ.get("HOME"), ".cache")


class FullConfig:
    def __init__(self):
        self.video = types.SimpleNamespace(source="", output_dir="outputs/", start_frame=-1, end_frame=1300,
                                           useffmpeg=False)
        self.phalp = types.SimpleNamespace(detector="vitdet", start_frame=-1, end_frame=-1)
        self.render = types.SimpleNamespace(enable=True)
        self.overwrite = True
        self.track_dataset = "demo"
        self.base_tracker = "PHALP"
        self.video_seq = ""
