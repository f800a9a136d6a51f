import json
import urllib.error
import urllib.request

import pytest

from pose_service import healthcheck
from pose_service.health import Health
from pose_service.server import serve


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_states_from_start_to_ready_with_load_time():
    clock = Clock()
    h = Health(clock)
    assert h.state == "starting" and not h.healthy
    clock.now = 101
    h.set("downloading", "weights 10%")
    assert h.snapshot()["detail"] == "weights 10%"
    clock.now = 130
    h.set("loading", "models")
    clock.now = 141.5
    h.ready({"cuda": True, "name": "RTX"}, {"torch": "2.4.1"})
    snap = h.snapshot()
    assert snap["state"] == "ready" and snap["status"] == "ok"
    assert snap["load_seconds"] == 40.5  # from the first download/load step
    assert snap["device"]["name"] == "RTX" and snap["versions"]["torch"] == "2.4.1"
    assert "detail" not in snap


def test_error_carries_the_fix_and_clears_on_recovery():
    h = Health()
    h.failed("SMPL model not found", fix="download it")
    snap = h.snapshot()
    assert (snap["state"], snap["error"], snap["fix"]) == ("error", "SMPL model not found", "download it")
    assert not h.healthy
    h.set("loading")
    assert "error" not in h.snapshot()


def test_no_gpu_is_healthy_and_says_so():
    h = Health()
    h.disabled("no GPU: DEVSTACK_GPU=none")
    snap = h.snapshot()
    assert h.healthy and snap["state"] == "disabled"
    assert snap["detail"] == "no GPU: DEVSTACK_GPU=none"
    assert snap["device"]["cuda"] is False


def test_unknown_state_is_refused():
    with pytest.raises(ValueError):
        Health().set("sleepy")


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as res:
            return res.status, res.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_http_health_metrics_and_the_docker_healthcheck(monkeypatch, capsys):
    h = Health()
    server = serve(h, 0, host="127.0.0.1", extra=lambda: {"queue": {"waiting": 3}})
    port = server.server_address[1]
    base = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("HTTP_PORT", str(port))
    try:
        h.set("loading", "models")
        status, body = get(f"{base}/health")
        assert status == 503 and json.loads(body)["state"] == "loading"
        assert healthcheck.main() == 1
        # The first line is what devstack's progress line shows.
        assert capsys.readouterr().out.splitlines()[0] == "loading: models"

        h.ready({"cuda": True, "memory_mib": 24576}, {"torch": "2.4.1"})
        h.record_job(True, 12.0)
        h.record_job(False, 1.0)
        status, body = get(f"{base}/health")
        assert status == 200
        snap = json.loads(body)
        assert snap["queue"] == {"waiting": 3}
        assert snap["stats"]["jobs_done"] == 1 and snap["stats"]["jobs_failed"] == 1
        assert healthcheck.main() == 0

        status, metrics = get(f"{base}/metrics")
        assert status == 200
        assert 'pose_state{state="ready"} 1' in metrics
        assert "pose_jobs_done_total 1" in metrics
        assert "pose_device_memory_mib 24576" in metrics
        assert get(f"{base}/nope")[0] == 404
    finally:
        server.shutdown()
        server.server_close()
    assert healthcheck.main() == 1  # nothing answers any more


def test_healthcheck_summary_is_one_readable_line():
    assert healthcheck.summary('{"state": "downloading", "detail": "weights 42%"}') == "downloading: weights 42%"
    assert healthcheck.summary('{"state": "starting"}') == "starting"
    assert (
        healthcheck.summary('{"state": "error", "error": "SMPL model not found", "fix": "download it"}')
        == "error: SMPL model not found; fix: download it"
    )
    assert healthcheck.summary("<html>bad gateway</html>\nmore") == "<html>bad gateway</html>"
    assert healthcheck.summary("") == "no /health body"


def test_health_lists_each_model_file_its_url_whether_it_is_cached_and_how_to_place_it(config, monkeypatch):
    from dataclasses import replace

    from pose_service import models, service

    monkeypatch.setenv("HOSTNAME", "c0ffee123456")
    config = replace(config, hmr2_data_url="https://mirror.example/hmr2_data.tar.gz")
    server = serve(Health(), 0, host="127.0.0.1", extra=service.health_extra(config))
    base = f"http://127.0.0.1:{server.server_address[1]}"
    tarball = config.cache_dir / "4DHumans" / "hmr2_data.tar.gz"
    try:
        status, body = get(f"{base}/health")
        assert status == 503
        first, second = json.loads(body)["models"]
        assert (first["file"], first["url"], first["path"], first["present"]) == (
            "hmr2_data.tar.gz", "https://mirror.example/hmr2_data.tar.gz", str(tarball), False)
        assert first["by_hand"].endswith(f"docker cp hmr2_data.tar.gz c0ffee123456:{tarball}")
        assert (second["file"], second["url"], second["present"]) == ("ViTDet-H detector", models.VITDET_URL, False)

        tarball.parent.mkdir(parents=True)
        tarball.write_bytes(b"t" * 4096)  # placed by hand, or downloaded
        first = json.loads(get(f"{base}/health")[1])["models"][0]
        assert first == {"file": "hmr2_data.tar.gz", "url": "https://mirror.example/hmr2_data.tar.gz",
                         "path": str(tarball), "present": True, "bytes": 4096}
    finally:
        server.shutdown()
        server.server_close()
