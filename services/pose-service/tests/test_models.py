import functools
import http.server
import logging
import threading

import pytest

from pose_service import models
from pose_service.runner import DownloadFailed, SmplMissing


@pytest.fixture
def http_dir(tmp_path):
    """A real HTTP server over a directory; `truncate` makes it lie about lengths."""
    root = tmp_path / "www"
    root.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            if self.path == "/truncated.bin":
                self.send_response(200)
                self.send_header("Content-Length", "1000")
                self.end_headers()
                self.wfile.write(b"x" * 10)
                return
            super().do_GET()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_download_is_atomic_and_happens_once(http_dir, tmp_path):
    root, base = http_dir
    (root / "weights.bin").write_bytes(b"w" * 300_000)
    d = models.Download("weights", f"{base}/weights.bin", tmp_path / "cache" / "a" / "weights.bin")
    reports = []
    assert models.fetch(d, reports.append, chunk=65536) is True
    assert d.dest.read_bytes() == b"w" * 300_000
    assert reports and reports[-1].endswith("(100%)")
    assert not d.dest.with_name("weights.bin.part").exists()
    assert models.fetch(d, reports.append) is False  # present: not fetched again


def test_an_interrupted_download_leaves_no_file_behind(http_dir, tmp_path):
    _, base = http_dir
    d = models.Download("big", f"{base}/truncated.bin", tmp_path / "big.bin")
    with pytest.raises(OSError, match="stopped at 10 of 1000 bytes"):
        models.fetch(d, lambda _: None, timeout=5)
    assert not d.dest.exists()
    assert not d.dest.with_name("big.bin.part").exists()


def test_download_list_follows_the_detector(tmp_path):
    vitdet = models.downloads(tmp_path, "http://x/hmr2_data.tar.gz", "vitdet")
    assert [d.name for d in vitdet] == ["hmr2_data.tar.gz", "ViTDet-H detector"]
    assert vitdet[1].dest == (tmp_path / "iopath_cache" / "detectron2" / "ViTDet" / "COCO" /
                              "cascade_mask_rcnn_vitdet_h" / "f328730692" / "model_final_f05665.pkl")
    assert [d.name for d in models.downloads(tmp_path, "http://x/h.tgz", "maskrcnn")] == ["hmr2_data.tar.gz"]


def test_missing_smpl_says_where_it_looked(tmp_path):
    with pytest.raises(SmplMissing, match=f"SMPL model not found in {tmp_path / 'smpl'}"):
        models.place_smpl(tmp_path / "smpl", tmp_path / "cache", tmp_path / "work")


def test_a_converted_smpl_goes_to_both_libraries(tmp_path):
    (tmp_path / "smpl").mkdir()
    (tmp_path / "smpl" / "SMPL_NEUTRAL.pkl").write_bytes(b"smpl")
    targets = models.place_smpl(tmp_path / "smpl", tmp_path / "cache", tmp_path / "work")
    assert [t.read_bytes() for t in targets] == [b"smpl", b"smpl"]
    assert targets[1] == tmp_path / "cache" / "phalp" / "3D" / "models" / "smpl" / "SMPL_NEUTRAL.pkl"


def test_the_original_download_is_converted_by_upstream_code(tmp_path):
    (tmp_path / "smpl").mkdir()
    (tmp_path / "smpl" / models.SMPL_ORIGINAL).write_bytes(b"py2 pickle")
    cache, work = tmp_path / "cache", tmp_path / "work"

    def convert():  # what hmr2's check_smpl_exists does: ./data/<original> → cache, no makedirs
        src = work / "data" / models.SMPL_ORIGINAL
        dst = models.smpl_targets(cache)[0]
        with open(dst, "wb") as out:
            out.write(src.read_bytes().replace(b"py2", b"py3"))

    targets = models.place_smpl(tmp_path / "smpl", cache, work, convert=convert)
    assert [t.read_bytes() for t in targets] == [b"py3 pickle", b"py3 pickle"]


def test_hmr2_data_is_unpacked_once(tmp_path):
    import tarfile

    src = tmp_path / "src" / "logs"
    src.mkdir(parents=True)
    (src / "model_config.yaml").write_text("x: 1\n")
    tarball = tmp_path / "4DHumans" / "hmr2_data.tar.gz"
    tarball.parent.mkdir()
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(src, arcname="logs")
    models.extract_hmr2_data(tarball)
    assert (tarball.parent / "logs" / "model_config.yaml").read_text() == "x: 1\n"
    (tarball.parent / "logs" / "model_config.yaml").write_text("edited")
    models.extract_hmr2_data(tarball)  # marker present: not unpacked again
    assert (tarball.parent / "logs" / "model_config.yaml").read_text() == "edited"


def test_a_failed_download_names_the_url_and_how_to_place_the_file_by_hand(http_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("HOSTNAME", "c0ffee123456")
    _, base = http_dir
    [d, _] = models.downloads(tmp_path / "cache", f"{base}/gone/hmr2_data.tar.gz", "vitdet")
    with pytest.raises(DownloadFailed) as err:
        models.fetch(d, lambda _: None, timeout=5)
    assert str(err.value) == f"downloading hmr2_data.tar.gz from {base}/gone/hmr2_data.tar.gz failed: HTTP Error 404: File not found"
    assert err.value.fix == (
        "set HMR2_DATA_URL in .env to a reachable copy of hmr2_data.tar.gz and run `devstack up`, or "
        f"download {base}/gone/hmr2_data.tar.gz on the host and copy it into the model cache: "
        f"docker cp hmr2_data.tar.gz c0ffee123456:{tmp_path / 'cache' / '4DHumans' / 'hmr2_data.tar.gz'}")
    assert d.dest.parent.is_dir() and list(d.dest.parent.iterdir()) == []  # a folder to copy into, no .part


def test_the_state_of_each_file_url_presence_and_the_way_by_hand(tmp_path, monkeypatch):
    monkeypatch.setenv("HOSTNAME", "c0ffee123456")
    files = models.downloads(tmp_path, "https://mirror.example/hmr2_data.tar.gz", "vitdet")
    files[1].dest.parent.mkdir(parents=True)
    files[1].dest.write_bytes(b"w" * 1234)
    files[0].dest.parent.mkdir(parents=True)
    files[0].dest.with_name("hmr2_data.tar.gz.part").write_bytes(b"p" * 99)
    assert models.describe(files) == [
        {"file": "hmr2_data.tar.gz", "url": "https://mirror.example/hmr2_data.tar.gz",
         "path": str(tmp_path / "4DHumans" / "hmr2_data.tar.gz"), "present": False, "downloaded_bytes": 99,
         "size": "2.7 GB", "url_setting": "HMR2_DATA_URL", "by_hand": models.by_hand(files[0])},
        {"file": "ViTDet-H detector", "url": models.VITDET_URL, "path": str(files[1].dest), "present": True,
         "bytes": 1234},
    ]
    assert models.by_hand(files[1]) == (f"download {models.VITDET_URL} on the host and copy it into the model cache: "
                                        f"docker cp model_final_f05665.pkl c0ffee123456:{files[1].dest}")


def test_the_log_says_which_url_each_missing_file_comes_from(tmp_path, caplog):
    files = models.downloads(tmp_path, "https://mirror.example/hmr2_data.tar.gz", "vitdet")
    files[1].dest.parent.mkdir(parents=True)
    files[1].dest.write_bytes(b"w" * 1234)
    with caplog.at_level(logging.INFO, logger="pose_service.models"):
        models.announce(files)
    assert [r.getMessage() for r in caplog.records] == [
        "hmr2_data.tar.gz: not in the model cache; downloading 2.7 GB from "
        "https://mirror.example/hmr2_data.tar.gz (HMR2_DATA_URL)",
        "ViTDet-H detector: in the model cache",
    ]
    assert caplog.records[0].path == str(files[0].dest)
    assert caplog.records[0].by_hand == models.by_hand(files[0])
    assert caplog.records[1].bytes == 1234
