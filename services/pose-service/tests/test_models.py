import functools
import http.server
import threading

import pytest

from pose_service import models
from pose_service.runner import SmplMissing


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

    def convert():  # what hmr2's check_smpl_exists does: ./data/<original> → cache
        src = work / "data" / models.SMPL_ORIGINAL
        dst = models.smpl_targets(cache)[0]
        dst.parent.mkdir(parents=True)
        dst.write_bytes(src.read_bytes().replace(b"py2", b"py3"))

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
