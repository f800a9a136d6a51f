import os
import threading

from conftest import ScriptedRunner
from pose_service import service
from pose_service.health import Health
from pose_service.runner import DownloadFailed, NoGpu, SmplMissing


def test_loads_once_and_reports_ready(config):
    runner, health = ScriptedRunner(), Health()
    assert service.load_models(runner, config, health, threading.Event()) == "ready"
    snap = health.snapshot()
    assert snap["state"] == "ready" and snap["versions"] == {"model": "scripted-1"}
    assert runner.loads == 1


def test_waits_for_the_smpl_file_then_loads(config):
    runner, health = ScriptedRunner([SmplMissing("SMPL model not found in /smpl")]), Health()
    states = []

    class Watch(Health):
        def failed(self, error, fix=None):
            super().failed(error, fix)
            states.append(self.snapshot())

    health = Watch()
    assert service.load_models(runner, config, health, threading.Event(), retry_seconds=0.01) == "ready"
    assert runner.loads == 2
    assert states[0]["state"] == "error"
    assert "smplify.is.tue.mpg.de" in states[0]["fix"]


def test_a_failed_download_is_an_error_with_its_fix_and_is_retried(config):
    failed = DownloadFailed("downloading hmr2_data.tar.gz from https://x/h.tgz failed: HTTP Error 404: Not Found",
                            fix="set HMR2_DATA_URL in .env to a reachable copy")
    runner, states = ScriptedRunner([failed]), []

    class Watch(Health):
        def failed(self, error, fix=None):
            super().failed(error, fix)
            states.append(self.snapshot())

    assert service.load_models(runner, config, Watch(), threading.Event(), download_retry_seconds=0.01) == "ready"
    assert runner.loads == 2
    assert [(s["state"], s["error"], s["fix"]) for s in states] == [
        ("error", "downloading hmr2_data.tar.gz from https://x/h.tgz failed: HTTP Error 404: Not Found",
         "set HMR2_DATA_URL in .env to a reachable copy")]


def test_no_gpu_is_a_state_not_a_crash(config):
    health = Health()
    assert service.load_models(ScriptedRunner([NoGpu("CUDA is not available")]), config, health,
                               threading.Event()) == "disabled"
    assert health.healthy and "no GPU" in health.snapshot()["detail"]


def test_devstack_gpu_none_skips_loading(config):
    from dataclasses import replace

    runner, health = ScriptedRunner(), Health()
    assert service.load_models(runner, replace(config, gpu_request="none"), health, threading.Event()) == "disabled"
    assert runner.loads == 0
    assert health.snapshot()["detail"] == "no GPU: DEVSTACK_GPU=none, pose estimation is off"


def test_a_broken_model_is_an_error_with_a_fix(config):
    health = Health()
    assert service.load_models(ScriptedRunner([RuntimeError("CUDA out of memory")]), config, health,
                               threading.Event()) is None
    snap = health.snapshot()
    assert snap["state"] == "error" and "CUDA out of memory" in snap["error"] and snap["fix"]


def test_changed_job_code_is_reloaded_between_jobs():
    import pose_service.jobs as jobs_module

    reloader = service.CodeReloader()
    before = reloader()
    assert reloader() is before  # nothing changed: same code
    path = jobs_module.__file__
    st = os.stat(path)
    try:
        os.utime(path, (st.st_atime, st.st_mtime + 5))
        after = reloader()
    finally:
        os.utime(path, (st.st_atime, st.st_mtime))
    assert after is not before
    import sys
    assert after is sys.modules["pose_service.jobs"].process
