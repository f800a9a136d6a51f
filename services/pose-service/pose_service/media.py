"""ffmpeg steps around the tracker: PHALP reads only `*.mp4` paths (and splits the name at
the first dot), and writes mp4v video that browsers do not play; we hand it a clean mp4 and
re-encode its output to H.264 with faststart."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


class MediaError(RuntimeError):
    pass


def _ffmpeg(*args: str) -> None:
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise MediaError("ffmpeg is not installed in the pose-service image")
    proc = subprocess.run([exe, "-hide_banner", "-loglevel", "error", "-y", *args],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise MediaError(f"ffmpeg failed ({proc.returncode}): {proc.stderr.strip()[-800:]}")


def prepare_input(src: Path, dst: Path) -> Path:
    """An mp4 at `dst` for the tracker: MP4 uploads are linked as they are, others re-encoded."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists():
        dst.unlink()
    if src.suffix.lower() in (".mp4", ".m4v"):
        try:
            dst.hardlink_to(src)
        except OSError:  # other filesystem (uploads and results are separate volumes)
            shutil.copyfile(src, dst)
        return dst
    _ffmpeg("-i", str(src), "-map", "0:v:0", "-c:v", "libx264", "-preset", "veryfast", "-crf", "18",
            "-pix_fmt", "yuv420p", str(dst))
    return dst


def for_browser(src: Path, dst: Path) -> Path:
    """H.264 + yuv420p + moov atom first: plays in every browser and streams with ranges."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.stem + ".part.mp4")
    _ffmpeg("-i", str(src), "-map", "0:v:0", "-c:v", "libx264", "-preset", "veryfast", "-crf", "23",
            "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(tmp))
    tmp.replace(dst)
    return dst
