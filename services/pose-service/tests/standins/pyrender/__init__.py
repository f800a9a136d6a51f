"""Stand-in for pyrender 0.1.45 + PyOpenGL: PyOpenGL binds its platform at its first import
(here: this module's import); pyrender's OffscreenRenderer picks its platform from
PYOPENGL_PLATFORM when it is created. When the two differ, the real one fails with e.g.
AttributeError: 'EGLPlatform' object has no attribute 'OSMesa'. Set STANDIN_EGL=broken to make
EGL fail (no NVIDIA EGL: WSL2, a driver without the graphics capability)."""
import os

import standin_record

BOUND = os.environ.get("PYOPENGL_PLATFORM")  # None: GLX
standin_record.event("import pyrender", BOUND)

_NAMES = {"egl": "EGL", "osmesa": "OSMesa", None: "GLX"}


class OffscreenRenderer:
    def __init__(self, viewport_width, viewport_height, point_size=1.0):
        wanted = os.environ.get("PYOPENGL_PLATFORM")
        if wanted == "egl" and os.environ.get("STANDIN_EGL") == "broken":
            raise RuntimeError("eglInitialize failed: EGL_NOT_INITIALIZED")
        if wanted != BOUND:
            raise AttributeError(f"'{_NAMES.get(BOUND, BOUND)}Platform' object has no attribute "
                                 f"'{_NAMES.get(wanted, wanted)}'")
        standin_record.event("OffscreenRenderer", wanted)

    def delete(self):
        pass
