"""The model runner interface. Production: `hmr2_runner.Hmr2Runner` (4D-Humans + PHALP on
the GPU, imported lazily so this package imports without torch). Tests bring their own."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Protocol

# progress(fraction in [0, 1], stage)
Progress = Callable[[float, str], None]
# report(state, detail) while loading: state is "downloading" or "loading"
LoadReport = Callable[[str, str], None]


class NoGpu(RuntimeError):
    """No usable CUDA device: the service stays up, reports it, and takes no work."""


class SmplMissing(RuntimeError):
    """The SMPL body model (licensed, downloaded by hand) is not where it must be."""


class DownloadFailed(OSError):
    """A model file could not be downloaded; `fix` says how to get it there another way."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.fix = fix

    def __str__(self) -> str:
        return self.args[0]


class TrackingFailed(RuntimeError):
    """The tracker ran but produced no result."""


@dataclass
class TrackResult:
    tracklets: Path
    video: Optional[Path]
    frames: int
    people: int


class Runner(Protocol):
    name: str

    def load(self, report: LoadReport) -> tuple[dict, dict]:
        """Downloads (first start) and loads the models; returns (device, versions)."""

    def track(self, video: Path, out_dir: Path, progress: Progress) -> TrackResult:
        """Tracks people through an mp4; writes tracklets and a rendered video under out_dir."""

    def estimate(self, rgb: Any) -> list[dict]:
        """Per-frame pose of everyone in an RGB image (HxWx3 uint8): for live Kinect frames."""
