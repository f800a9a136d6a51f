from phalp.visualize.py_renderer import Renderer


class Visualizer:
    def __init__(self, cfg, hmar):
        self.renderer = Renderer(cfg)
