"""First-start downloads and the hand-downloaded SMPL model.

Upstream download helpers write straight to the final path and skip files that exist, so an
interrupted download leaves a truncated file that is never fetched again. We fetch the big
files ourselves: to `*.part`, check the size, then rename; upstream then finds them."""

from __future__ import annotations

import logging
import shutil
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from .runner import SmplMissing

log = logging.getLogger("pose_service.models")

SMPL_ORIGINAL = "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl"
SMPL_CONVERTED = "SMPL_NEUTRAL.pkl"
SMPL_FIX = (
    "download the SMPL neutral model ({orig}) from https://smplify.is.tue.mpg.de (free registration, "
    "non-commercial licence) and put it in SMPL_DIR on the host (default ./data/smpl); "
    "pose-service picks it up within 10 s"
)

VITDET_URL = ("https://dl.fbaipublicfiles.com/detectron2/ViTDet/COCO/cascade_mask_rcnn_vitdet_h/"
              "f328730692/model_final_f05665.pkl")


@dataclass(frozen=True)
class Download:
    name: str
    url: str
    dest: Path


def downloads(cache_dir: Path, hmr2_data_url: str, detector: str) -> list[Download]:
    """The large files of a first start (~5.5 GB); PHALP fetches its small ones itself."""
    files = [Download("hmr2_data.tar.gz", hmr2_data_url, cache_dir / "4DHumans" / "hmr2_data.tar.gz")]
    if detector == "vitdet":
        # iopath mirrors the URL path under FVCORE_CACHE (= cache_dir/iopath_cache).
        rel = VITDET_URL.split("://", 1)[1].split("/", 1)[1]
        files.append(Download("ViTDet-H detector", VITDET_URL, cache_dir / "iopath_cache" / rel))
    return files


def fetch(d: Download, report: Callable[[str], None], chunk: int = 1 << 20, timeout: float = 60) -> bool:
    """Downloads `d` unless present; True when it downloaded. Atomic: a partial file never
    takes the final name."""
    if d.dest.is_file() and d.dest.stat().st_size > 0:
        return False
    d.dest.parent.mkdir(parents=True, exist_ok=True)
    part = d.dest.with_name(d.dest.name + ".part")
    log.info("downloading", extra={"file": d.name, "url": d.url, "dest": str(d.dest)})
    with urllib.request.urlopen(d.url, timeout=timeout) as res, open(part, "wb") as out:
        total = int(res.headers.get("Content-Length") or 0)
        done, last_pct = 0, -1
        while True:
            block = res.read(chunk)
            if not block:
                break
            out.write(block)
            done += len(block)
            pct = int(done * 100 / total) if total else -1
            if pct != last_pct and (pct % 5 == 0 or pct < 0):
                report(f"{d.name}: {done >> 20} MiB" + (f" of {total >> 20} MiB ({pct}%)" if total else ""))
                last_pct = pct
    if total and done != total:
        part.unlink(missing_ok=True)
        raise OSError(f"download of {d.name} from {d.url} stopped at {done} of {total} bytes; it is retried on the next start")
    part.replace(d.dest)
    return True


def extract_hmr2_data(tarball: Path) -> None:
    """Unpacks the HMR 2.0 checkpoint next to the tarball once (upstream checks only the tarball)."""
    root = tarball.parent
    marker = root / ".hmr2_data.extracted"
    if marker.exists():
        return
    with tarfile.open(tarball) as tar:
        if hasattr(tarfile, "data_filter"):  # refuses absolute paths and links out of root
            tar.extractall(root, filter="data")
        else:
            tar.extractall(root)
    marker.touch()


def smpl_targets(cache_dir: Path) -> list[Path]:
    """Where 4D-Humans and PHALP look for the converted SMPL model."""
    return [cache_dir / "4DHumans" / "data" / "smpl" / SMPL_CONVERTED,
            cache_dir / "phalp" / "3D" / "models" / "smpl" / SMPL_CONVERTED]


def place_smpl(smpl_dir: Path, cache_dir: Path, workdir: Path,
               convert: Optional[Callable[[], None]] = None) -> list[Path]:
    """Puts the SMPL model where both libraries look. Accepts the converted SMPL_NEUTRAL.pkl
    or the original download (converted by 4D-Humans' own code: `convert`, run in `workdir`,
    which reads ./data/<original> and writes the first target). Raises SmplMissing with the fix."""
    targets = smpl_targets(cache_dir)
    if all(t.is_file() for t in targets):
        return targets
    converted = next((p for p in [smpl_dir / SMPL_CONVERTED, *targets] if p.is_file()), None)
    if converted is None:
        original = smpl_dir / SMPL_ORIGINAL
        if not original.is_file():
            raise SmplMissing(f"SMPL model not found in {smpl_dir} (looked for {SMPL_ORIGINAL} and {SMPL_CONVERTED})")
        if convert is None:
            raise SmplMissing(f"{original} needs converting, and no converter is available")
        staged = workdir / "data" / SMPL_ORIGINAL
        staged.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(original, staged)
        convert()
        converted = targets[0]
        if not converted.is_file():
            raise SmplMissing(f"converting {original} did not produce {converted}")
    for t in targets:
        if t != converted and not t.is_file():
            t.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(converted, t)
    return targets
