import io
import json
import logging
import warnings

from pose_service import logs


def lines(stream):
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_with_extra_fields_and_level():
    out = io.StringIO()
    logs.configure("info", out)
    log = logging.getLogger("pose_service.test")
    log.debug("hidden")
    log.info("job finished", extra={"job": "j1", "seconds": 1.5})
    [entry] = lines(out)
    assert entry["level"] == "info"
    assert entry["logger"] == "pose_service.test"
    assert entry["msg"] == "job finished"
    assert (entry["job"], entry["seconds"]) == ("j1", 1.5)
    assert entry["time"].endswith("Z")


def test_exceptions_and_warnings_are_json_too():
    out = io.StringIO()
    with warnings.catch_warnings():  # pytest captures warnings itself: route them to us here
        warnings.simplefilter("always")
        logging.captureWarnings(False)
        logs.configure("debug", out)
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logging.getLogger("x").exception("failed")
        warnings.warn("old api", DeprecationWarning)
        logging.captureWarnings(False)
    entries = lines(out)
    assert "RuntimeError: boom" in entries[0]["exc"]
    assert entries[1]["logger"] == "py.warnings" and "old api" in entries[1]["msg"]


def test_a_later_basicconfig_like_phalps_changes_nothing():
    out = io.StringIO()
    logs.configure("warning", out)
    logging.basicConfig(level="INFO", handlers=[logging.StreamHandler(io.StringIO())])
    logging.getLogger("phalp").info("suppressed by our level")
    logging.getLogger("phalp").warning("kept")
    assert [e["msg"] for e in lines(out)] == ["kept"]
    assert len(logging.getLogger().handlers) == 1
