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


def routed(level="debug"):
    out = io.StringIO()
    logs.configure(level, out)
    return out, logs.route_std_streams()


def test_printed_lines_become_json_records_one_per_line(capsys):
    import sys

    out, restore = routed()
    try:
        print("hello")
        sys.stdout.write("part")
        sys.stdout.write("ial\n\n")  # the empty line is dropped
        sys.stderr.write("careful\n")
        for pct in (0, 50, 100):  # a bar redrawn with \r, finished by a newline
            sys.stdout.write(f"\r  [{'=' * (pct // 50)}] {pct}%")
        sys.stdout.write("\n")
        sys.stdout.write("  [==] 100% of 1.0MB file  \r")  # a bar that ends in \r (PHALP's downloads)
        sys.stdout.write("\n")
    finally:
        restore()
    assert capsys.readouterr() == ("", "")
    assert [(e["logger"], e["level"], e["msg"]) for e in lines(out)] == [
        ("stdout", "info", "hello"),
        ("stdout", "info", "partial"),
        ("stderr", "warning", "careful"),
        ("stdout", "info", "  [==] 100%"),
        ("stdout", "info", "  [==] 100% of 1.0MB file"),
    ]


def test_printed_at_and_capture_printed_are_per_block_and_thread():
    import threading

    out, restore = routed("info")
    try:
        with logs.capture_printed() as captured:
            with logs.printed_at(logging.DEBUG):
                print("per-person chatter")  # debug: below info, not written
            print("kept")
            other = threading.Thread(target=print, args=("from another thread",))
            other.start()
            other.join()
    finally:
        restore()
    assert [e["msg"] for e in lines(out)] == ["kept", "from another thread"]
    assert captured == ["per-person chatter", "kept"]  # this thread's lines only


def test_partial_lines_of_two_threads_do_not_mix():
    import sys
    import threading

    out, restore = routed()
    try:
        sys.stdout.write("main-")
        other = threading.Thread(target=lambda: sys.stdout.write("other\n"))
        other.start()
        other.join()
        sys.stdout.write("done\n")
    finally:
        restore()
    assert [e["msg"] for e in lines(out)] == ["other", "main-done"]


def test_an_uncaught_exception_in_a_thread_is_one_error_record(capsys):
    import threading

    out, restore = routed()
    try:
        worker = threading.Thread(target=lambda: 1 / 0, name="lifecycle")
        worker.start()
        worker.join()
    finally:
        restore()
    assert capsys.readouterr() == ("", "")
    [entry] = lines(out)
    assert (entry["level"], entry["msg"], entry["thread_name"]) == ("error", "uncaught exception in a thread", "lifecycle")
    assert "ZeroDivisionError: division by zero" in entry["exc"]


def test_progress_bar_is_a_drop_in_that_logs():
    out = io.StringIO()
    logs.configure("debug", out)
    items = list(logs.progress_bar(enumerate("abcdefghijklmnopqrst"), description="Tracking : clip", total=20))
    assert items == list(enumerate("abcdefghijklmnopqrst"))
    entries = lines(out)
    assert [e["percent"] for e in entries[:-1]] == [10, 20, 30, 40, 50, 60, 70, 80, 90]
    assert all(e["level"] == "debug" for e in entries[:-1])
    assert (entries[-1]["level"], entries[-1]["msg"], entries[-1]["done"]) == ("info", "Tracking : clip: 20 steps", 20)
