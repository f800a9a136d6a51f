import os

if "PYOPENGL_PLATFORM" not in os.environ:
    os.environ["PYOPENGL_PLATFORM"] = "egl"
import pyrender


class MeshRenderer:
    """Created by HMR2.__init__ (init_renderer=True), even when nothing is rendered."""

    def __init__(self, cfg, faces=None):
        self.renderer = pyrender.OffscreenRenderer(viewport_width=256, viewport_height=256, point_size=1.0)
