"""Settings from the environment, validated once at start: a typo fails with its name."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional

MODES = ("jobs", "kinect", "both")
DETECTORS = ("vitdet", "maskrcnn")
LEVELS = ("debug", "info", "warning", "error", "critical")


class ConfigError(ValueError):
    """A setting is invalid; the message names it and the fix."""


@dataclass(frozen=True)
class Config:
    log_level: str = "info"
    http_port: int = 8000
    redis_url: str = "redis://127.0.0.1:6379/0"
    mongo_url: str = "mongodb://127.0.0.1:27017"
    mongo_db: str = "devstack"
    queue_key: str = "pose:jobs"
    uploads_dir: Path = Path("/data/uploads")
    results_dir: Path = Path("/data/results")
    smpl_dir: Path = Path("/smpl")
    cache_dir: Path = Path.home() / ".cache"
    mode: str = "jobs"
    detector: str = "vitdet"
    max_frames: int = 0
    gpu_request: str = "all"
    gpu_memory_fraction: Optional[float] = None
    kinect_stream: str = "kinect:frames"
    kinect_results_stream: str = "pose:kinect:results"
    hmr2_data_url: str = "https://www.cs.utexas.edu/~pavlakos/4dhumans/hmr2_data.tar.gz"

    @property
    def gpu_disabled(self) -> bool:
        return self.gpu_request == "none"


def normalise_level(raw: str) -> str:
    level = raw.strip().lower()
    level = {"warn": "warning", "fatal": "critical", "trace": "debug"}.get(level, level)
    if level not in LEVELS:
        raise ConfigError(f"LOG_LEVEL={raw} is not one of debug, info, warn, error")
    return level


def _int(env: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    raw = env.get(name, "")
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw} is not an integer; fix it in .env") from None
    if value < minimum:
        raise ConfigError(f"{name}={raw} must be >= {minimum}")
    return value


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env.get(name, "") or default
    if value not in choices:
        raise ConfigError(f"{name}={value} is not one of {', '.join(choices)}")
    return value


def _fraction(env: Mapping[str, str]) -> Optional[float]:
    raw = env.get("POSE_GPU_MEMORY_FRACTION", "")
    if raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"POSE_GPU_MEMORY_FRACTION={raw} is not a number in (0, 1]") from None
    if not 0 < value <= 1:
        raise ConfigError(f"POSE_GPU_MEMORY_FRACTION={raw} must be in (0, 1]")
    return value


def load(env: Mapping[str, str] = os.environ) -> Config:
    home = Path(env.get("HOME") or Path.home())
    defaults = Config()
    return Config(
        log_level=normalise_level(env.get("LOG_LEVEL", "") or "info"),
        http_port=_int(env, "HTTP_PORT", 8000, 0),
        redis_url=env.get("REDIS_URL", "") or defaults.redis_url,
        mongo_url=env.get("MONGO_URL", "") or defaults.mongo_url,
        mongo_db=env.get("MONGO_DB", "") or defaults.mongo_db,
        queue_key=env.get("POSE_QUEUE", "") or defaults.queue_key,
        uploads_dir=Path(env.get("UPLOADS_DIR", "") or defaults.uploads_dir),
        results_dir=Path(env.get("RESULTS_DIR", "") or defaults.results_dir),
        smpl_dir=Path(env.get("SMPL_DIR", "") or defaults.smpl_dir),
        cache_dir=home / ".cache",
        mode=_choice(env, "POSE_MODE", "jobs", MODES),
        detector=_choice(env, "POSE_DETECTOR", "vitdet", DETECTORS),
        max_frames=_int(env, "POSE_MAX_FRAMES", 0, 0),
        gpu_request=(env.get("DEVSTACK_GPU", "") or "all").strip().lower(),
        gpu_memory_fraction=_fraction(env),
        kinect_stream=env.get("KINECT_STREAM", "") or defaults.kinect_stream,
        kinect_results_stream=env.get("KINECT_RESULTS_STREAM", "") or defaults.kinect_results_stream,
        hmr2_data_url=env.get("HMR2_DATA_URL", "") or defaults.hmr2_data_url,
    )
