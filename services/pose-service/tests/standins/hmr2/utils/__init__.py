from .renderer import Renderer  # noqa: F401  (imports pyrender, as upstream)
from .mesh_renderer import MeshRenderer  # noqa: F401


def recursive_to(x, target):
    return x
