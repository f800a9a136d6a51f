"""Shared fixtures: a real redis-server on a free port, a scripted runner, a recording store."""

from __future__ import annotations

import os
import pickle
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pose_service.config import Config  # noqa: E402
from pose_service.runner import TrackResult  # noqa: E402

HAVE_FFMPEG = shutil.which("ffmpeg") is not None
needs_ffmpeg = pytest.mark.skipif(not HAVE_FFMPEG, reason="ffmpeg is not installed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def redis_url():
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server) and REDIS_URL is not set")
    port = free_port()
    proc = subprocess.Popen([exe, "--port", str(port), "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 5
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start within 5 s")
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=5)


@pytest.fixture
def redis_client(redis_url):
    import redis

    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def config(tmp_path) -> Config:
    uploads, results = tmp_path / "uploads", tmp_path / "results"
    uploads.mkdir()
    results.mkdir()
    return Config(uploads_dir=uploads, results_dir=results, smpl_dir=tmp_path / "smpl",
                  cache_dir=tmp_path / "cache", queue_key=f"test:jobs:{os.getpid()}:{time.time_ns()}")


class RecordingStore:
    """Keeps every update, as the job document would see them in order."""

    def __init__(self) -> None:
        self.updates: list[tuple[str, dict]] = []

    def update(self, job_id: str, fields: dict) -> None:
        self.updates.append((job_id, dict(fields)))

    def states(self, job_id: str) -> list[str]:
        return [f["state"] for j, f in self.updates if j == job_id and "state" in f]

    def last(self, job_id: str) -> dict:
        doc: dict = {}
        for j, f in self.updates:
            if j == job_id:
                doc.update(f)
        return doc


class ScriptedRunner:
    """A runner for tests: `load` goes through `load_script` (exceptions are raised in turn);
    `track` writes real outputs (a pickle and, with ffmpeg, an mp4v video like PHALP's)."""

    name = "scripted"

    def __init__(self, load_script=(), fail_track: Exception | None = None, people: int = 2) -> None:
        self.load_script = list(load_script)
        self.fail_track = fail_track
        self.people = people
        self.loads = 0
        self.tracked: list[Path] = []

    def load(self, report):
        self.loads += 1
        report("downloading", "weights 50%")
        report("loading", "models")
        if self.load_script:
            step = self.load_script.pop(0)
            if isinstance(step, Exception):
                raise step
        return {"cuda": True, "name": "Scripted GPU"}, {"model": "scripted-1"}

    def track(self, video: Path, out_dir: Path, progress) -> TrackResult:
        self.tracked.append(video)
        if self.fail_track:
            raise self.fail_track
        out_dir.mkdir(parents=True, exist_ok=True)
        for i in range(1, 11):
            progress(i / 10, "tracking")
        pkl = out_dir / "results" / "demo_input.pkl"
        pkl.parent.mkdir(parents=True, exist_ok=True)
        pkl.write_bytes(pickle.dumps({"frame_0": {"tid": list(range(self.people))}}))
        rendered = None
        if HAVE_FFMPEG:
            rendered = out_dir / "PHALP_input.mp4"
            subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                            "testsrc=size=64x48:rate=10", "-t", "1", "-c:v", "mpeg4", str(rendered)], check=True)
        return TrackResult(tracklets=pkl, video=rendered, frames=10, people=self.people)

    def estimate(self, rgb):
        return [{"bbox": [0, 0, rgb.shape[1], rgb.shape[0]], "mean": float(rgb.mean())}]


@pytest.fixture
def store() -> RecordingStore:
    return RecordingStore()
