"""Stand-in for OpenCV: a "video" is a text file `frames=N [fail]`."""
CAP_PROP_FRAME_COUNT = 7


class VideoCapture:
    def __init__(self, path):
        self.words = open(path).read().split()

    def get(self, prop):
        return float(self.words[0].split("=")[1]) if prop == CAP_PROP_FRAME_COUNT else 0.0

    def release(self):
        pass
