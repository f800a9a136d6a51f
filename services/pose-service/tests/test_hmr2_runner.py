"""The production runner (4D-Humans + PHALP) against stand-in libraries (tests/standins/): the
import order that decides the GL platform, the SMPL conversion, the crops of Kinect mode, what
the libraries print, and a failed download. No GPU, torch or model files needed."""

from __future__ import annotations

import functools
import http.server
import io
import json
import logging
import pickle
import sys
import tarfile
import threading
import time
import types
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from pose_service import hmr2_runner, logs, models, service
from pose_service.config import Config
from pose_service.health import Health
from pose_service.runner import TrackingFailed

STANDINS = Path(__file__).resolve().parent / "standins"
STANDIN_MODULES = {"torch", "cv2", "omegaconf", "pyrender", "hmr2", "phalp", "track", "standin_record"}
SMPL = {"f": [[0, 1, 2]], "v_template": [[0.0, 0.0, 0.0]], "kind": "neutral"}


def forget_standins() -> None:
    for name in list(sys.modules):
        if name.split(".")[0] in STANDIN_MODULES:
            del sys.modules[name]


def hmr2_data_tarball(dest: Path, work: Path) -> None:
    """A hmr2_data.tar.gz with the checkpoint's config and data/, but no data/smpl/."""
    src = work / "hmr2_data"
    (src / "logs" / "train" / "multiruns" / "hmr2" / "0").mkdir(parents=True)
    (src / "logs" / "train" / "multiruns" / "hmr2" / "0" / "model_config.yaml").write_text("MODEL: {}\n")
    (src / "data").mkdir()
    (src / "data" / "smpl_mean_params.npz").write_bytes(b"npz")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(dest, "w:gz") as tar:
        tar.add(src / "logs", arcname="logs")
        tar.add(src / "data", arcname="data")


@pytest.fixture
def stack(tmp_path, monkeypatch):
    """A container's worth of state: HOME with the model cache (downloads done, SMPL not yet
    converted), the original SMPL file in SMPL_DIR, PYOPENGL_PLATFORM=egl as the image sets it,
    and the stand-ins importable (also by the EGL probe's subprocess)."""
    forget_standins()
    home, smpl_dir, workdir = tmp_path / "home", tmp_path / "smpl", tmp_path / "app"
    cache = home / ".cache"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("PYOPENGL_PLATFORM", "egl")
    monkeypatch.setenv("STANDIN_EGL", "ok")
    monkeypatch.setenv("PYTHONPATH", str(STANDINS))
    monkeypatch.setenv("HOSTNAME", "c0ffee123456")
    monkeypatch.syspath_prepend(str(STANDINS))  # restores sys.path (and the runner's insert) after
    monkeypatch.setattr(hmr2_runner, "TRACK_PY_DIR", str(STANDINS / "4D-Humans"))
    workdir.mkdir()
    monkeypatch.chdir(workdir)  # upstream's converter reads ./data/<original>

    hmr2_data_tarball(cache / "4DHumans" / "hmr2_data.tar.gz", tmp_path)
    config = Config(cache_dir=cache, smpl_dir=smpl_dir, uploads_dir=tmp_path / "uploads",
                    results_dir=tmp_path / "results", detector="vitdet")
    vitdet = models.downloads(cache, config.hmr2_data_url, "vitdet")[1].dest
    vitdet.parent.mkdir(parents=True)
    vitdet.write_bytes(b"vitdet weights")
    smpl_dir.mkdir()
    (smpl_dir / models.SMPL_ORIGINAL).write_bytes(pickle.dumps(SMPL, protocol=2))

    import standin_record

    yield types.SimpleNamespace(config=config, cache=cache, workdir=workdir, tmp=tmp_path, record=standin_record,
                                runner=hmr2_runner.Hmr2Runner(config, workdir=workdir))
    forget_standins()


def load(stack) -> tuple[dict, dict]:
    reports: list = []
    device, versions = stack.runner.load(lambda state, detail: reports.append((state, detail)))
    assert reports[-1] == ("loading", "models (HMR 2.0, HMAR, pose transformer, detector)")
    return device, versions


@pytest.mark.parametrize("egl, platform", [("broken", "osmesa"), ("ok", "egl")])
def test_the_gl_platform_is_chosen_before_hmr2_or_phalp_is_imported(stack, monkeypatch, caplog, egl, platform):
    monkeypatch.setenv("STANDIN_EGL", egl)
    device, _ = load(stack)
    imports = [(what, value) for what, value in stack.record.events if what.startswith("import ")]
    # PYOPENGL_PLATFORM at the moment each library was first imported: pyrender (PyOpenGL binds
    # its platform then) comes first, under the platform the probe chose.
    assert imports == [("import pyrender", platform), ("import hmr2", platform),
                       ("import hmr2.models", platform), ("import phalp", platform)]
    # HMR 2.0's mesh renderer and PHALP's visualizer: both made (the stand-in fails like
    # pyrender when the platform differs from the bound one).
    assert stack.record.values("OffscreenRenderer") == [platform, platform]
    assert device["gl_platform"] == platform
    fallbacks = [r for r in caplog.records if r.getMessage().startswith("NVIDIA EGL unavailable")]
    if egl == "broken":
        assert fallbacks[0].reason == ["RuntimeError: eglInitialize failed: EGL_NOT_INITIALIZED"]
    else:
        assert fallbacks == []


def test_the_original_smpl_file_is_converted_into_a_folder_that_exists(stack):
    smpl_folder = stack.cache / "4DHumans" / "data" / "smpl"
    load(stack)
    first = stack.record.values("check_smpl_exists")[0]
    assert first["cwd"] == str(stack.workdir)
    assert str(smpl_folder) in first["dirs"]  # the tarball has data/ but no data/smpl/
    for target in models.smpl_targets(stack.cache):
        assert pickle.loads(target.read_bytes()) == SMPL


def test_kinect_crops_use_the_loaded_models_config(stack):
    load(stack)
    people = stack.runner.estimate(np.zeros((480, 640, 3), np.uint8))
    [cfg] = stack.record.values("ViTDetDataset cfg")
    assert cfg is stack.runner.tracker.HMAR.model.cfg
    assert cfg.MODEL.BBOX_SHAPE == [192, 256]
    # The detector's 300x100 person, padded to 192:256 like the demo: 400 high, not 300.
    assert stack.record.values("crop size") == [400.0]
    assert [p["bbox"] for p in people] == [[10.0, 20.0, 310.0, 120.0]]  # the 0.2-score box is dropped
    assert len(people[0]["cam_t"]) == 3 and len(people[0]["betas"]) == 10
    assert people[0]["score"] == 0.9
    # The model's crop-unit joints, in the frame's pixels: the crop is the 400-pixel square
    # around the box's centre (160, 70).
    kp = people[0]["keypoints_2d"]
    assert len(kp) == 44
    assert kp[:3] == [[160.0, 70.0], [360.0, 270.0], [60.0, 110.0]]
    assert stack.record.values("X101 Mask R-CNN loaded") == []  # skipped on purpose


def run_everything(stack, level: str, video_text: str = "frames=3") -> tuple[list[dict], list]:
    """load + a Kinect frame + a video, with the service's logging: the JSON records and the
    progress the job saw."""
    out = io.StringIO()
    logs.configure(level, out)
    restore = logs.route_std_streams()
    progress: list = []
    try:
        load(stack)
        stack.runner.estimate(np.zeros((480, 640, 3), np.uint8))
        video = stack.tmp / "work" / "input.mp4"
        video.parent.mkdir(exist_ok=True)
        video.write_text(video_text)
        result = stack.runner.track(video, video.parent, lambda f, s: progress.append((round(f, 3), s)))
        progress.append(result)
    finally:
        restore()
    return [json.loads(line) for line in out.getvalue().splitlines()], progress


def test_library_prints_become_json_log_lines(stack, capsys):
    entries, progress = run_everything(stack, "debug")
    assert capsys.readouterr() == ("", "")  # nothing raw on stdout or stderr
    printed = [(e["logger"], e["level"], e["msg"]) for e in entries if e["logger"] in ("stdout", "stderr")]
    # ViTDetDataset's line per person: debug, so `--level warn` (or info) hides it.
    [crop] = [p for p in printed if "downsampling_factor=" in p[2]]
    assert crop[:2] == ("stdout", "debug") and "1.5625" in crop[2]
    # PHALP's downloads: the announcement, then its \r-redrawn bar as one line, its final state.
    assert [p for p in printed if not p[2].startswith("downsampling")] == [
        ("stdout", "info", "Downloading file: head_faces.npy"),
        ("stdout", "info", "  [" + "=" * 60 + "] 100.0% of 0.0MB file"),
        ("stdout", "info", "Downloading file: mean_std.npy"),
        ("stdout", "info", "  [" + "=" * 60 + "] 100.0% of 0.0MB file"),
    ]
    # PHALP's progress bar is replaced by records; the job's own progress still moves.
    assert not any("━" in e["msg"] for e in entries)
    [done] = [e for e in entries if e["logger"] == "phalp.progress" and e["level"] == "info"]
    assert (done["msg"], done["done"], done["total"]) == ("Tracking : input: 3 steps", 3, 3)
    *steps, result = progress
    assert steps == [(0.0, "extracting frames"), (0.333, "tracking"), (0.667, "tracking"), (0.99, "tracking")]
    assert (result.frames, result.people) == (3, 2)


def test_at_warn_level_library_prints_leave_no_lines(stack, capsys):
    entries, _ = run_everything(stack, "warning")
    assert capsys.readouterr() == ("", "")
    assert [e for e in entries if e["logger"] in ("stdout", "stderr", "phalp.progress")] == []


def test_a_failed_tracking_run_reports_the_error_phalp_printed(stack, capsys):
    with pytest.raises(TrackingFailed) as err:
        run_everything(stack, "info", video_text="frames=3 fail")
    assert str(err.value) == ("PHALP tracking failed: RuntimeError: CUDA error: an illegal memory access "
                              "was encountered (frame 1)")
    assert capsys.readouterr() == ("", "")


@pytest.fixture
def not_found_url():
    """An HTTP server that answers 404 for everything under it."""
    empty = STANDINS / "4D-Humans"  # any directory without the file
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(empty))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hmr2_data.tar.gz"
    server.shutdown()
    server.server_close()


def test_a_failed_checkpoint_download_names_the_url_and_the_fix_and_takes_a_file_placed_by_hand(stack, not_found_url):
    tarball = stack.cache / "4DHumans" / "hmr2_data.tar.gz"
    vitdet = models.downloads(stack.cache, "", "vitdet")[1].dest
    by_hand = tarball.read_bytes()
    tarball.unlink()
    vitdet.unlink()
    vitdet.parent.rmdir()
    config = replace(stack.config, hmr2_data_url=not_found_url)
    failures: list = []

    class Watch(Health):
        def failed(self, error, fix=None):
            super().failed(error, fix)
            failures.append(self.snapshot() | {"folders": (tarball.parent.is_dir(), vitdet.parent.is_dir())})
            if len(failures) == 2:  # the person reads the fix and copies the files in
                tarball.write_bytes(by_hand)
                vitdet.write_bytes(b"vitdet weights")

    health, outcome = Watch(), []
    worker = threading.Thread(target=lambda: outcome.append(service.load_models(
        hmr2_runner.Hmr2Runner(config, workdir=stack.workdir), config, health, threading.Event(),
        download_retry_seconds=0.01)))
    worker.start()
    worker.join(30)
    assert outcome == ["ready"]
    assert len(failures) == 2  # retried, then the file was there
    snap = failures[0]
    assert snap["state"] == "error"
    assert snap["folders"] == (True, True)  # `docker cp` needs the folders, also the ViTDet one not yet fetched
    assert snap["error"] == f"downloading hmr2_data.tar.gz from {not_found_url} failed: HTTP Error 404: File not found"
    assert snap["fix"] == (
        "set HMR2_DATA_URL in .env to a reachable copy of hmr2_data.tar.gz and run `devstack up`, or "
        f"download {not_found_url} on the host and copy it into the model cache: "
        f"docker cp hmr2_data.tar.gz c0ffee123456:{tarball}")
    assert sorted(p.name for p in tarball.parent.iterdir()) == [".hmr2_data.extracted", "data", "hmr2_data.tar.gz",
                                                               "logs"]  # no .part left behind
