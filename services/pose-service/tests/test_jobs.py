import json
import pickle
import subprocess
import threading
import time

import pytest

from conftest import ScriptedRunner, needs_ffmpeg
from pose_service import jobs
from pose_service.health import Health
from pose_service.runner import TrackingFailed


def upload(config, job_id, name="clip.mp4", data=b"not really a video"):
    path = config.uploads_dir / job_id / name
    path.parent.mkdir(parents=True)
    path.write_bytes(data)
    raw = json.dumps({"id": job_id, "upload": f"{job_id}/{name}", "createdAt": "now"}).encode()
    return jobs.QueuedJob.parse(raw)


@needs_ffmpeg
def test_a_job_runs_to_done_with_results_a_browser_can_play(config, store):
    job = upload(config, "j1")
    runner = ScriptedRunner(people=3)
    final = jobs.process(job, runner, store, config)
    assert final["state"] == "done", final
    assert final["result"] == {"frames": 10, "people": 3, "tracklets": "j1/tracklets.pkl", "video": "j1/video.mp4"}
    out = config.results_dir / "j1"
    assert pickle.loads((out / "tracklets.pkl").read_bytes()) == {"frame_0": {"tid": [0, 1, 2]}}
    probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                            "stream=codec_name,pix_fmt", "-of", "csv=p=0", str(out / "video.mp4")],
                           capture_output=True, text=True, check=True)
    assert probe.stdout.strip() == "h264,yuv420p"
    assert sorted(p.name for p in out.iterdir()) == ["tracklets.pkl", "video.mp4"]  # work files removed
    assert runner.tracked[0].name == "input.mp4"  # dot-free name for PHALP
    assert store.states("j1") == ["running", "done"]
    progress = [f["progress"] for _, f in store.updates if "progress" in f]
    assert progress[0] == 0.0 and progress[-1] == 1.0


def test_progress_is_throttled_but_stage_changes_always_go_through(store):
    clock = [0.0]
    p = jobs.ProgressThrottle(store, "j", interval=1.0, clock=lambda: clock[0])
    p(0.1, "tracking")
    p(0.2, "tracking")  # too soon: dropped
    clock[0] = 1.5
    p(0.3, "tracking")
    p(0.3, "encoding video")  # new stage: written at once
    assert [(f["progress"], f["stage"]) for _, f in store.updates] == [
        (0.1, "tracking"), (0.3, "tracking"), (0.3, "encoding video")]


def test_a_missing_upload_fails_the_job_with_the_reason(config, store):
    raw = json.dumps({"id": "j2", "upload": "j2/gone.mp4"}).encode()
    final = jobs.process(jobs.QueuedJob.parse(raw), ScriptedRunner(), store, config)
    assert final["state"] == "failed"
    assert "j2/gone.mp4 is missing" in final["error"]


def test_paths_outside_the_uploads_volume_are_refused(config, store):
    raw = json.dumps({"id": "j3", "upload": "../../etc/passwd"}).encode()
    final = jobs.process(jobs.QueuedJob.parse(raw), ScriptedRunner(), store, config)
    assert final["state"] == "failed" and "outside the uploads directory" in final["error"]


def test_without_a_gpu_jobs_fail_and_say_why(config, store):
    job = upload(config, "j4")
    final = jobs.process(job, None, store, config)
    assert final["state"] == "failed"
    assert "without a GPU" in final["error"] and "DEVSTACK_GPU" in final["error"]


def test_a_tracker_failure_is_recorded(config, store):
    job = upload(config, "j5")
    final = jobs.process(job, ScriptedRunner(fail_track=TrackingFailed("PHALP tracking failed")), store, config)
    assert final["state"] == "failed" and final["error"] == "PHALP tracking failed"
    assert store.last("j5")["state"] == "failed"


def test_malformed_queue_entries_are_named():
    with pytest.raises(ValueError, match="malformed job"):
        jobs.QueuedJob.parse(b"{not json")


def test_the_queue_survives_a_crash_mid_job(redis_client, config):
    q = jobs.JobQueue(redis_client, config.queue_key)
    for i in range(3):
        redis_client.lpush(q.key, f"job{i}".encode())
    assert q.next(1) == b"job0"
    assert q.next(1) == b"job1"
    q.ack(b"job0")
    assert q.depth() == {"waiting": 1, "processing": 1}
    # The service died while job1 was running: the next start puts it first in line.
    assert q.recover() == 1
    assert q.next(1) == b"job1"
    q.requeue(b"job1")
    assert q.next(1) == b"job1"
    assert q.next(1) == b"job2"
    assert q.next(0.1) is None


class FlakyStore:
    """A status store that is down for its first `down` calls (MongoDB restarting)."""

    def __init__(self, inner, down):
        self.inner, self.down = inner, down

    def update(self, job_id, fields):
        if self.down > 0:
            self.down -= 1
            raise ConnectionError("mongodb unavailable")
        self.inner.update(job_id, fields)


def test_the_worker_takes_jobs_until_stopped(redis_client, config, store):
    health = Health()
    stop = threading.Event()
    q = jobs.JobQueue(redis_client, config.queue_key)
    good = upload(config, "w1")
    redis_client.lpush(q.key, b"garbage")
    redis_client.lpush(q.key, good.raw)
    runner = ScriptedRunner(fail_track=TrackingFailed("no people found"))
    flaky = FlakyStore(store, down=1)
    worker = threading.Thread(target=jobs.run_worker, args=(q, runner, flaky, config, health, stop),
                              kwargs={"poll_seconds": 0.1})
    worker.start()
    try:
        deadline = time.monotonic() + 10
        while health.snapshot()["stats"]["jobs_failed"] < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        worker.join(5)
    assert not worker.is_alive()
    stats = health.snapshot()["stats"]
    assert (stats["jobs_failed"], stats["jobs_done"], stats["jobs_running"]) == (1, 0, 0)
    assert store.last("w1")["error"] == "no people found"
    assert len(runner.tracked) == 1  # requeued once while the store was down, then run once
    assert q.depth() == {"waiting": 0, "processing": 0}  # garbage dropped, job acknowledged
