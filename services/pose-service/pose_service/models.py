"""First-start downloads and the hand-downloaded SMPL model.

Upstream download helpers write straight to the final path and skip files that exist, so an
interrupted download leaves a truncated file that is never fetched again. We fetch the big
files ourselves: to `*.part`, check the size, then rename; upstream then finds them."""

from __future__ import annotations

import http.client
import logging
import os
import shutil
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from .runner import DownloadFailed, SmplMissing

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
    size: str = ""  # roughly, for people: "2.7 GB"
    setting: str = ""  # the .env setting that overrides `url`, if any


def downloads(cache_dir: Path, hmr2_data_url: str, detector: str) -> list[Download]:
    """The large files of a first start (~5.5 GB); PHALP fetches its small ones itself."""
    files = [Download("hmr2_data.tar.gz", hmr2_data_url, cache_dir / "4DHumans" / "hmr2_data.tar.gz",
                      size="2.7 GB", setting="HMR2_DATA_URL")]
    if detector == "vitdet":
        # iopath mirrors the URL path under FVCORE_CACHE (= cache_dir/iopath_cache).
        rel = VITDET_URL.split("://", 1)[1].split("/", 1)[1]
        files.append(Download("ViTDet-H detector", VITDET_URL, cache_dir / "iopath_cache" / rel, size="2.8 GB"))
    return files


def present(d: Download) -> bool:
    return d.dest.is_file() and d.dest.stat().st_size > 0


def by_hand(d: Download, container: Optional[str] = None) -> str:
    """How to put `d` into the model cache without the service downloading it."""
    container = container or os.environ.get("HOSTNAME") or "<pose-service container>"
    how = (f"download {d.url} on the host and copy it into the model cache: "
           f"docker cp {d.dest.name} {container}:{d.dest}")
    if d.setting:
        how = f"set {d.setting} in .env to a reachable copy of {d.dest.name} and run `devstack up`, or {how}"
    return how


def describe(files: list[Download]) -> list[dict]:
    """Each large file: the URL it comes from, where it goes, whether it is there already."""
    out = []
    for d in files:
        entry: dict = {"file": d.name, "url": d.url, "path": str(d.dest), "present": present(d)}
        if entry["present"]:
            entry["bytes"] = d.dest.stat().st_size
        else:
            part = d.dest.with_name(d.dest.name + ".part")
            if part.is_file():
                entry["downloaded_bytes"] = part.stat().st_size
            if d.size:
                entry["size"] = d.size
            if d.setting:
                entry["url_setting"] = d.setting
            entry["by_hand"] = by_hand(d)
        out.append(entry)
    return out


def announce(files: list[Download], logger: logging.Logger = log) -> None:
    """One log line per large file: in the cache already, or where it will come from."""
    for d in files:
        if present(d):
            logger.info(f"{d.name}: in the model cache", extra={"file": d.name, "path": str(d.dest),
                                                                "bytes": d.dest.stat().st_size})
            continue
        via = f" ({d.setting})" if d.setting else ""
        logger.info(f"{d.name}: not in the model cache; downloading {d.size or 'it'} from {d.url}{via}",
                    extra={"file": d.name, "url": d.url, "path": str(d.dest), "by_hand": by_hand(d)})


def fetch(d: Download, report: Callable[[str], None], chunk: int = 1 << 20, timeout: float = 60) -> bool:
    """Downloads `d` unless present; True when it downloaded. Atomic: a partial file never
    takes the final name."""
    if present(d):
        return False
    # Created first, so that copying the file in by hand (`by_hand`) has a folder to go to.
    d.dest.parent.mkdir(parents=True, exist_ok=True)
    part = d.dest.with_name(d.dest.name + ".part")
    log.info("downloading", extra={"file": d.name, "url": d.url, "dest": str(d.dest)})
    try:
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
            raise OSError(f"it stopped at {done} of {total} bytes")
    except (OSError, ValueError, http.client.HTTPException) as err:  # HTTP errors, timeouts, bad URL, short read
        part.unlink(missing_ok=True)
        raise DownloadFailed(f"downloading {d.name} from {d.url} failed: {err}", fix=by_hand(d)) from err
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
        # The converter opens its output without creating the folder, and hmr2_data.tar.gz
        # does not necessarily contain data/smpl/.
        targets[0].parent.mkdir(parents=True, exist_ok=True)
        convert()
        converted = targets[0]
        if not converted.is_file():
            raise SmplMissing(f"converting {original} did not produce {converted}")
    for t in targets:
        if t != converted and not t.is_file():
            t.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(converted, t)
    return targets
