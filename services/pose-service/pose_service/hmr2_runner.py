"""The production runner: 4D-Humans (HMR 2.0) + PHALP tracking on the GPU.

Everything heavy (torch, detectron2, hmr2, phalp) is imported inside `load`, so the package
imports, and its tests run, without them. The tracker classes come from 4D-Humans' own
`track.py` at the pinned revision, installed into the image at /opt/4D-Humans (see the
Dockerfile)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any, Optional

from . import keypoints, logs, models
from .config import Config
from .runner import LoadReport, NoGpu, Progress, TrackingFailed, TrackResult

log = logging.getLogger("pose_service.hmr2")

TRACK_PY_DIR = os.environ.get("HMR2_TRACK_DIR", "/opt/4D-Humans")
_GL_PROBE = "import pyrender; r = pyrender.OffscreenRenderer(8, 8); r.delete()"


def _choose_gl_platform() -> str:
    """NVIDIA EGL when the driver exposes it (needs the `graphics` capability); else OSMesa
    (CPU, slow, but tracking still works, e.g. under WSL2). Probed in a subprocess because
    PyOpenGL binds its platform at first import."""
    wanted = os.environ.get("PYOPENGL_PLATFORM", "egl")
    if wanted != "egl":
        return wanted
    probe = subprocess.run([sys.executable, "-c", _GL_PROBE], capture_output=True, text=True,
                           env={**os.environ, "PYOPENGL_PLATFORM": "egl"}, timeout=120)
    if probe.returncode == 0:
        return "egl"
    log.warning("NVIDIA EGL unavailable, rendering with OSMesa on the CPU (slower)",
                extra={"reason": probe.stderr.strip().splitlines()[-1:] or ["?"]})
    return "osmesa"


def _quiet_progress_bars() -> None:
    """PHALP draws rich progress bars on stdout (tracking, rendering); its modules imported
    `progress_bar` by name, so it is replaced where it is looked up. Ours logs instead."""
    for name in ("phalp.trackers.PHALP", "phalp.visualize.postprocessor", "phalp.utils.utils", "phalp.utils"):
        module = sys.modules.get(name)
        if module is not None and hasattr(module, "progress_bar"):
            module.progress_bar = logs.progress_bar


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"


class Hmr2Runner:
    name = "4D-Humans HMR 2.0 + PHALP"

    def __init__(self, config: Config, workdir: Optional[Path] = None) -> None:
        self.config = config
        self.workdir = workdir or Path.cwd()
        self.tracker: Any = None
        self.model_cfg: Any = None
        self.device: Any = None

    def load(self, report: LoadReport) -> tuple[dict, dict]:
        import torch

        if not torch.cuda.is_available():
            raise NoGpu("CUDA is not available in the container (torch.cuda.is_available() is false): "
                        "check the NVIDIA driver and container toolkit with `devstack doctor`")
        if self.config.gpu_memory_fraction:
            torch.cuda.set_per_process_memory_fraction(self.config.gpu_memory_fraction, 0)

        files = models.downloads(self.config.cache_dir, self.config.hmr2_data_url, self.config.detector)
        models.announce(files, log)
        for d in files:  # every folder first: placing a file by hand (`docker cp`) needs it
            d.dest.parent.mkdir(parents=True, exist_ok=True)
        for d in files:
            report("downloading", d.name)
            models.fetch(d, lambda msg: report("downloading", msg))
        report("loading", "unpacking the HMR 2.0 checkpoint")
        models.extract_hmr2_data(self.config.cache_dir / "4DHumans" / "hmr2_data.tar.gz")

        # First, before anything imports hmr2 or phalp: `import hmr2.models` imports pyrender,
        # and PyOpenGL binds its platform at its first import. Bound to EGL where EGL does not
        # work, HMR2's OSMesa renderer fails with "'EGLPlatform' object has no attribute 'OSMesa'".
        report("loading", "choosing the GL platform")
        platform = _choose_gl_platform()
        os.environ["PYOPENGL_PLATFORM"] = platform
        import pyrender  # noqa: F401  binds PyOpenGL to `platform` before PHALP forces egl

        report("loading", "SMPL model")
        from hmr2.models import check_smpl_exists  # converts ./data/<original pkl>

        models.place_smpl(self.config.smpl_dir, self.config.cache_dir, self.workdir, convert=check_smpl_exists)

        report("loading", "models (HMR 2.0, HMAR, pose transformer, detector)")
        sys.path.insert(0, TRACK_PY_DIR)
        from omegaconf import OmegaConf
        from track import HMR2_4dhuman, Human4DConfig  # 4D-Humans' track.py, pinned in the image

        os.environ["PYOPENGL_PLATFORM"] = platform  # phalp's renderer module overwrote it
        _quiet_progress_bars()

        class Tracker(HMR2_4dhuman):
            on_frame = None

            def setup_detectron2_with_RPN(self):
                # The X101 Mask R-CNN only serves ground-truth boxes, which we never pass:
                # skipping it saves a 431 MB download and its GPU memory.
                pass

            def get_detections(self, *args, **kwargs):
                if self.on_frame is not None:
                    self.on_frame()
                return super().get_detections(*args, **kwargs)

        cfg = OmegaConf.structured(Human4DConfig)
        cfg.phalp.detector = self.config.detector
        cfg.video.useffmpeg = False  # we re-encode for browsers ourselves
        cfg.render.enable = True
        cfg.overwrite = True
        self.tracker = Tracker(cfg)

        from hmr2.models import DEFAULT_CHECKPOINT

        # The loaded model's own config: load_hmr2 adds MODEL.BBOX_SHAPE=[192,256], which a
        # fresh copy of model_config.yaml lacks, and without which ViTDetDataset skips the
        # aspect padding the demo's crops have.
        self.model_cfg = self.tracker.HMAR.model.cfg
        self.device = torch.device("cuda")
        props = torch.cuda.get_device_properties(0)
        device = {
            "cuda": True,
            "name": props.name,
            "memory_mib": props.total_memory >> 20,
            "capability": f"{props.major}.{props.minor}",
            "cuda_runtime": torch.version.cuda,
            "visible_devices": os.environ.get("NVIDIA_VISIBLE_DEVICES", ""),
            "gl_platform": platform,
            "memory_fraction": self.config.gpu_memory_fraction,
        }
        versions = {
            "torch": torch.__version__,
            "phalp": _version("phalp"),
            "hmr2": _version("hmr2"),
            "detectron2": _version("detectron2"),
            "checkpoint": Path(DEFAULT_CHECKPOINT).name,
            "detector": self.config.detector,
        }
        return device, versions

    def track(self, video: Path, out_dir: Path, progress: Progress) -> TrackResult:
        import cv2

        cap = cv2.VideoCapture(str(video))
        total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        cap.release()
        if total <= 0:
            raise TrackingFailed(f"cannot read frames from {video.name}: not a video OpenCV can decode")
        frames = min(total, self.config.max_frames) if self.config.max_frames else total
        cfg = self.tracker.cfg
        cfg.video.source = str(video)
        cfg.video.output_dir = str(out_dir)
        cfg.video.start_frame = -1
        cfg.video.end_frame = frames  # upstream default stops at 1300 frames
        done = 0

        def on_frame() -> None:
            nonlocal done
            done += 1
            progress(min(done / frames, 0.99), "tracking")

        progress(0.0, "extracting frames")
        self.tracker.on_frame = on_frame
        try:
            with logs.capture_printed() as printed:
                ret = self.tracker.track()
        finally:
            self.tracker.on_frame = None
        if ret is None:  # PHALP catches its own exceptions, prints them and returns None
            reason = next((line.strip() for line in reversed(printed) if line.strip()), "")
            log.error("PHALP tracking failed", extra={"video": video.name, "printed": "\n".join(printed[-60:])})
            raise TrackingFailed(f"PHALP tracking failed: {reason}" if reason else
                                 "PHALP tracking failed without saying why")
        visuals, pkl_path = ret
        people = {tid for frame in visuals.values() for tid in frame.get("tid", [])}
        rendered = out_dir / f"PHALP_{video.name.split('.')[0]}.mp4"
        return TrackResult(tracklets=Path(pkl_path), video=rendered if rendered.is_file() else None,
                           frames=len(visuals), people=len(people))

    def estimate(self, rgb: Any) -> list[dict]:
        """Everyone in one RGB frame: box, detection score, 2D joints in the frame's pixels
        (see keypoints.py), 3D joints, camera translation and shape."""
        import torch
        from hmr2.datasets.vitdet_dataset import ViTDetDataset
        from hmr2.utils import recursive_to
        from hmr2.utils.renderer import cam_crop_to_full

        bgr = rgb[..., ::-1].copy()
        instances = self.tracker.detector(bgr)["instances"]
        keep = (instances.pred_classes == 0) & (instances.scores > 0.5)
        boxes = instances.pred_boxes.tensor[keep].cpu().numpy()
        scores = instances.scores[keep].cpu().numpy()
        if len(boxes) == 0:
            return []
        model = self.tracker.HMAR.model
        loader = torch.utils.data.DataLoader(ViTDetDataset(self.model_cfg, bgr, boxes), batch_size=8)
        people: list[dict] = []
        with logs.printed_at(logging.DEBUG):  # ViTDetDataset prints a line per person
            batches = list(loader)
        for batch in batches:
            batch = recursive_to(batch, self.device)
            with torch.no_grad():
                out = model(batch)
            img_size = batch["img_size"].float()
            focal = self.model_cfg.EXTRA.FOCAL_LENGTH / self.model_cfg.MODEL.IMAGE_SIZE * img_size.max()
            cam_t = cam_crop_to_full(out["pred_cam"], batch["box_center"].float(), batch["box_size"].float(),
                                     img_size, focal)
            joints_2d = keypoints.crop_to_image(out["pred_keypoints_2d"].cpu().numpy(),
                                                batch["box_center"].cpu().numpy(), batch["box_size"].cpu().numpy())
            for n in range(out["pred_cam"].shape[0]):
                k = len(people)
                people.append({
                    "bbox": boxes[k].round(1).tolist(),
                    "score": round(float(scores[k]), 3),
                    "keypoints_2d": keypoints.rounded(joints_2d[n]),
                    "cam_t": cam_t[n].tolist(),
                    "keypoints_3d": out["pred_keypoints_3d"][n].cpu().numpy().round(4).tolist(),
                    "betas": out["pred_smpl_params"]["betas"][n].cpu().numpy().round(4).tolist(),
                })
        return people
