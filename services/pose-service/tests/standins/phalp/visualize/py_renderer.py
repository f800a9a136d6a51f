import os

os.environ["PYOPENGL_PLATFORM"] = "egl"  # unconditionally, as upstream
import pyrender  # noqa: E402


class Renderer:
    def __init__(self, cfg):
        self.renderer = pyrender.OffscreenRenderer(viewport_width=256, viewport_height=256, point_size=1.0)
