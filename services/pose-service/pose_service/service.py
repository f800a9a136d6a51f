"""Lifecycle: load the models once (retrying while the SMPL file is missing), then run the
workers the mode asks for. Kept apart from `main` so tests drive it with their own runner."""

from __future__ import annotations

import importlib
import logging
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Optional

from . import jobs, kinect, models
from .config import Config
from .health import Health
from .models import SMPL_FIX, SMPL_ORIGINAL
from .runner import DownloadFailed, NoGpu, Runner, SmplMissing

log = logging.getLogger("pose_service")

LOAD_FAILED_FIX = "read the pose-service log for the cause, then `devstack restart pose`"


def load_models(runner: Runner, config: Config, health: Health, stop: threading.Event,
                retry_seconds: float = 10.0, download_retry_seconds: float = 60.0) -> Optional[str]:
    """Returns "ready", "disabled" (no GPU: take no work), or None (error, or stopped).
    A missing SMPL file or a failed download is an error state with its fix, retried until it
    is fixed (a file copied in by hand is picked up without a restart)."""
    if config.gpu_disabled:
        health.disabled("no GPU: DEVSTACK_GPU=none, pose estimation is off")
        log.warning("running without a GPU (DEVSTACK_GPU=none): jobs will fail with a clear message")
        return "disabled"
    while not stop.is_set():
        health.set("loading", "starting")
        try:
            device, versions = runner.load(lambda state, detail: health.set(state, detail))
        except NoGpu as err:
            health.disabled(f"no GPU: {err}")
            log.error("no usable GPU; pose estimation is off", extra={"reason": str(err)})
            return "disabled"
        except SmplMissing as err:
            health.failed(str(err), fix=SMPL_FIX.format(orig=SMPL_ORIGINAL))
            log.error("SMPL model missing; waiting for it", extra={"error": str(err),
                                                                   "fix": SMPL_FIX.format(orig=SMPL_ORIGINAL)})
            stop.wait(retry_seconds)
            continue
        except DownloadFailed as err:
            health.failed(str(err), fix=err.fix)
            log.error("model download failed; retrying", extra={
                "error": str(err), "fix": err.fix, "retry_seconds": download_retry_seconds})
            stop.wait(download_retry_seconds)
            continue
        except Exception as err:
            health.failed(f"loading the models failed: {err}", fix=LOAD_FAILED_FIX)
            log.exception("loading the models failed")
            return None
        health.ready(device, versions)
        log.info("models ready", extra={"load_seconds": health.snapshot()["load_seconds"],
                                        "device": device, "versions": versions})
        return "ready"
    return None


def health_extra(config: Config, queue: Optional[jobs.JobQueue] = None) -> Callable[[], dict]:
    """Live fields of /health: the job queue's depth, and per large model file the URL it
    comes from, where it goes in the model cache, whether it is there, and how to put it there
    by hand."""
    def extra() -> dict:
        out: dict = {"models": models.describe(models.downloads(config.cache_dir, config.hmr2_data_url,
                                                                config.detector))}
        if queue is not None:
            out["queue"] = queue.depth()
        return out

    return extra


class CodeReloader:
    """Source reload without reloading the models: before each job, modules whose files
    changed (bind-mounted source) are re-imported; the loaded runner stays in memory."""

    MODULES = ("pose_service.media", "pose_service.jobs")

    def __init__(self) -> None:
        self.mtimes = {name: self._mtime(name) for name in self.MODULES}

    @staticmethod
    def _mtime(name: str) -> float:
        try:
            return Path(sys.modules[name].__file__).stat().st_mtime
        except (KeyError, OSError, TypeError):
            return 0.0

    def __call__(self) -> Callable:
        changed = [n for n in self.MODULES if self._mtime(n) != self.mtimes[n]]
        for name in self.MODULES if changed else ():
            try:
                importlib.reload(sys.modules[name])
                self.mtimes[name] = self._mtime(name)
            except Exception:  # a syntax error mid-edit: keep the code that works
                log.exception("reloading %s failed; keeping the previous code", name)
        if changed:
            log.info("reloaded job code", extra={"modules": changed})
        return sys.modules["pose_service.jobs"].process


def start_workers(outcome: str, runner: Optional[Runner], config: Config, health: Health,
                  stop: threading.Event, redis: Any, store: jobs.StatusStore) -> list[threading.Thread]:
    threads = []
    if outcome not in ("ready", "disabled"):
        return threads
    if config.mode in ("jobs", "both"):
        queue = jobs.JobQueue(redis, config.queue_key)
        usable = runner if outcome == "ready" else None
        threads.append(threading.Thread(
            target=jobs.run_worker, name="jobs", daemon=True,
            args=(queue, usable, store, config, health, stop), kwargs={"before_job": CodeReloader()}))
    if config.mode in ("kinect", "both") and outcome == "ready":
        reader = kinect.LatestFrameReader(redis, config.kinect_stream)
        threads.append(threading.Thread(
            target=kinect.run_consumer, name="kinect", daemon=True,
            args=(reader, runner, redis, config.kinect_results_stream, health, stop)))
    for t in threads:
        t.start()
    return threads
