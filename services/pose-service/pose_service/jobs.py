"""Video jobs: taken from the Redis list that backend-api fills, tracked, results written to
the results volume, state written to the job document in MongoDB.

The queue is reliable: BLMOVE moves a job to `<key>:processing` while it runs, so a job in
progress when the service dies is queued again on the next start."""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional, Protocol

from . import media
from .config import Config
from .health import Health
from .runner import NoGpu, Runner

log = logging.getLogger("pose_service.jobs")


@dataclass(frozen=True)
class QueuedJob:
    id: str
    upload: str
    raw: bytes

    @staticmethod
    def parse(raw: bytes) -> "QueuedJob":
        try:
            data = json.loads(raw)
            return QueuedJob(id=str(data["id"]), upload=str(data["upload"]), raw=raw)
        except (ValueError, KeyError, TypeError) as err:
            raise ValueError(f"malformed job in the queue ({err}): {raw[:200]!r}") from None


class JobQueue:
    def __init__(self, redis: Any, key: str) -> None:
        self.redis, self.key, self.processing = redis, key, f"{key}:processing"

    def recover(self) -> int:
        """Puts jobs left in `processing` by a previous run back at the front of the queue."""
        moved = 0
        while self.redis.lmove(self.processing, self.key, "RIGHT", "RIGHT") is not None:
            moved += 1
        return moved

    def next(self, timeout: float) -> Optional[bytes]:
        return self.redis.blmove(self.key, self.processing, timeout, "RIGHT", "LEFT")

    def ack(self, raw: bytes) -> None:
        self.redis.lrem(self.processing, 1, raw)

    def requeue(self, raw: bytes) -> None:
        """Back to the front of the queue (the job could not be handled now)."""
        pipe = self.redis.pipeline()
        pipe.lrem(self.processing, 1, raw)
        pipe.rpush(self.key, raw)
        pipe.execute()

    def depth(self) -> dict:
        return {"waiting": self.redis.llen(self.key), "processing": self.redis.llen(self.processing)}


class StatusStore(Protocol):
    def update(self, job_id: str, fields: dict) -> None: ...


class MongoStatusStore:
    """Job documents in MongoDB (collection `jobs`, created by backend-api)."""

    def __init__(self, url: str, db: str) -> None:
        from pymongo import MongoClient  # imported here: tests without MongoDB need no pymongo

        self.client = MongoClient(url, serverSelectionTimeoutMS=5000)
        self.jobs = self.client[db]["jobs"]

    def update(self, job_id: str, fields: dict) -> None:
        self.jobs.update_one({"_id": job_id}, {"$set": {**fields, "updatedAt": datetime.now(timezone.utc)}})


class ProgressThrottle:
    """Writes progress at most every `interval` seconds (and always at stage changes)."""

    def __init__(self, store: StatusStore, job_id: str, interval: float = 1.0, clock=time.monotonic) -> None:
        self.store, self.job_id, self.interval, self.clock = store, job_id, interval, clock
        self.last_time = -float("inf")
        self.last_stage = ""

    def __call__(self, fraction: float, stage: str) -> None:
        now = self.clock()
        if stage == self.last_stage and now - self.last_time < self.interval:
            return
        self.last_time, self.last_stage = now, stage
        self.store.update(self.job_id, {"progress": round(min(max(fraction, 0.0), 1.0), 4), "stage": stage})


def process(job: QueuedJob, runner: Optional[Runner], store: StatusStore, config: Config) -> dict:
    """Runs one job to its end; returns the final fields written to the job document.
    Never raises for a failure of the job itself: that is recorded as state `failed`."""
    started = datetime.now(timezone.utc)
    store.update(job.id, {"state": "running", "stage": "preparing", "progress": 0.0, "startedAt": started})
    out_dir = config.results_dir / job.id
    try:
        if runner is None:
            raise NoGpu(f"pose-service runs without a GPU (DEVSTACK_GPU={config.gpu_request}); "
                        "start the stack with a GPU (DEVSTACK_GPU=all or a device id) to process videos")
        upload = (config.uploads_dir / job.upload).resolve()
        if config.uploads_dir.resolve() not in upload.parents:
            raise ValueError(f"upload path {job.upload} is outside the uploads directory")
        if not upload.is_file():
            raise FileNotFoundError(f"the uploaded video {job.upload} is missing from the uploads volume")
        work = out_dir / "work"
        # The tracker names outputs after the file up to its first dot: keep it dot-free.
        source = media.prepare_input(upload, work / "input.mp4")
        progress = ProgressThrottle(store, job.id)
        result = runner.track(source, work, progress)
        progress(1.0, "encoding video")
        tracklets = out_dir / "tracklets.pkl"
        shutil.move(str(result.tracklets), tracklets)
        fields: dict = {"frames": result.frames, "people": result.people, "tracklets": f"{job.id}/tracklets.pkl"}
        if result.video is not None:
            media.for_browser(result.video, out_dir / "video.mp4")
            fields["video"] = f"{job.id}/video.mp4"
        shutil.rmtree(work, ignore_errors=True)
        final = {"state": "done", "stage": "done", "progress": 1.0, "result": fields,
                 "finishedAt": datetime.now(timezone.utc)}
    except Exception as err:  # the job fails; the worker goes on
        log.error("job failed", extra={"job": job.id, "error": str(err)}, exc_info=not isinstance(err, (NoGpu, FileNotFoundError)))
        final = {"state": "failed", "stage": "failed", "error": str(err),
                 "finishedAt": datetime.now(timezone.utc)}
    store.update(job.id, final)
    return final


def run_worker(queue: JobQueue, runner: Optional[Runner], store: StatusStore, config: Config,
               health: Health, stop, poll_seconds: float = 1.0, before_job=None) -> None:
    """Takes jobs until `stop` (a threading.Event) is set. `before_job` may swap in reloaded
    code (source reload without reloading the models)."""
    recovered = queue.recover()
    if recovered:
        log.warning("requeued jobs interrupted by the last shutdown", extra={"count": recovered})
    while not stop.is_set():
        try:
            raw = queue.next(poll_seconds)
        except Exception as err:  # Redis restarting: wait, retry
            log.warning("cannot read the job queue", extra={"error": str(err)})
            stop.wait(2.0)
            continue
        if raw is None:
            continue
        handle = before_job() if before_job else process
        t0 = time.monotonic()
        health.job_running(+1)
        try:
            try:
                job = QueuedJob.parse(raw)
            except ValueError as err:
                log.error(str(err))
                queue.ack(raw)
                continue
            log.info("job started", extra={"job": job.id, "upload": job.upload})
            try:
                final = handle(job, runner, store, config)
            except Exception as err:  # the status store (MongoDB) is down: retry later
                log.error("cannot record the job's status; requeued", extra={"job": job.id, "error": str(err)})
                queue.requeue(raw)
                stop.wait(2.0)
                continue
            queue.ack(raw)
            ok = final["state"] == "done"
            health.record_job(ok, time.monotonic() - t0)
            log.info("job finished", extra={"job": job.id, "state": final["state"],
                                            "seconds": round(time.monotonic() - t0, 2)})
        finally:
            health.job_running(-1)
