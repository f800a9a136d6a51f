"""JSON logs on stderr, one object per line. Configured before PHALP or hmr2 is imported:
PHALP calls logging.basicConfig with a rich handler at import, which is a no-op once the
root logger has a handler.

Libraries also print: 4D-Humans' ViTDetDataset prints a line per person, PHALP prints
download bars and its own tracking errors, and draws rich progress bars. `route_std_streams`
turns every line written to sys.stdout / sys.stderr into a JSON record (logger `stdout`,
level info / `stderr`, level warning), so `devstack logs pose --level warn` filters them like
any other line. Output written straight to file descriptor 1 or 2 (C libraries, `os.system`
children) does not pass through Python and stays as it is."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import sys
import threading
import time
from typing import IO, Any, Callable, Iterable, Iterator, Optional

# Attributes every LogRecord has; anything else was passed with `extra=` and is logged.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}
# Libraries that are chatty at INFO.
_NOISY = ("urllib3", "PIL", "matplotlib", "fvcore", "iopath", "h5py", "numba")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure(level: str, stream: Optional[IO[str]] = None) -> None:
    """Routes every logger (ours, PHALP's, warnings) through one JSON handler at `level`."""
    # If stderr is already routed into the logs, write to the stream underneath it.
    handler = logging.StreamHandler(stream or getattr(sys.stderr, "original", sys.stderr))
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.captureWarnings(True)
    for name in _NOISY:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))


# Per thread: the level printed lines get (printed_at) and a list collecting them (capture_printed).
_tls = threading.local()


class StreamToLog(io.TextIOBase):
    """A stand-in for sys.stdout / sys.stderr: each complete line becomes one log record.

    Carriage returns overwrite as on a terminal, so a progress bar redrawn with `\r` ends up
    as one line (its last state), not one record per redraw. Partial lines are kept per
    thread until their newline."""

    def __init__(self, logger: logging.Logger, level: int, original: IO[str]) -> None:
        super().__init__()
        self.logger, self.level, self.original = logger, level, original
        self._state = threading.local()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:  # rich and tqdm: no colours, no live redraws
        return False

    def fileno(self) -> int:
        return self.original.fileno()

    def _st(self) -> Any:
        st = self._state
        if not hasattr(st, "pending"):
            st.pending, st.last, st.busy = "", "", False
        return st

    @staticmethod
    def _fold(st: Any, text: str) -> str:
        """What a terminal shows of `text` after its carriage returns; remembers the last
        non-blank overwritten part (a bar that ends in `\r`)."""
        *overwritten, shown = text.split("\r")
        for part in overwritten:
            if part.strip():
                st.last = part
        return shown

    def write(self, s: str) -> int:
        st = self._st()
        if st.busy:  # a handler that writes to this stream: no loop
            return self.original.write(s)
        *lines, rest = (st.pending + str(s)).split("\n")
        for line in lines:
            shown = self._fold(st, line)
            text = (shown if shown.strip() else st.last).rstrip()
            st.last = ""
            if text.strip():
                self._emit(st, text)
        st.pending = self._fold(st, rest)
        return len(s)

    def _emit(self, st: Any, text: str) -> None:
        level = getattr(_tls, "level", None) or self.level
        captured = getattr(_tls, "capture", None)
        if captured is not None:
            captured.append(text)
        st.busy = True
        try:
            self.logger.log(level, text)
        finally:
            st.busy = False

    def flush(self) -> None:  # lines are emitted at their newline; nothing is buffered elsewhere
        pass


def route_std_streams() -> Callable[[], None]:
    """Sends Python-level stdout and stderr into the JSON logs, and uncaught exceptions (in any
    thread) as one error record each. Call after `configure`. Returns a function that undoes it."""
    saved = (sys.stdout, sys.stderr, sys.excepthook, threading.excepthook)
    sys.stdout = StreamToLog(logging.getLogger("stdout"), logging.INFO, sys.stdout)
    sys.stderr = StreamToLog(logging.getLogger("stderr"), logging.WARNING, sys.stderr)
    crash = logging.getLogger("pose_service")

    def excepthook(exc_type, exc, tb) -> None:
        crash.critical("uncaught exception", exc_info=(exc_type, exc, tb))

    def thread_excepthook(args) -> None:
        if args.exc_type is not SystemExit:
            crash.error("uncaught exception in a thread", exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
                        extra={"thread_name": args.thread.name if args.thread else "?"})

    sys.excepthook, threading.excepthook = excepthook, thread_excepthook

    def restore() -> None:
        sys.stdout, sys.stderr, sys.excepthook, threading.excepthook = saved

    return restore


@contextlib.contextmanager
def printed_at(level: int) -> Iterator[None]:
    """Lines this thread prints inside the block are logged at `level` (e.g. DEBUG for a
    library's per-item chatter)."""
    before = getattr(_tls, "level", None)
    _tls.level = level
    try:
        yield
    finally:
        _tls.level = before


@contextlib.contextmanager
def capture_printed(keep: int = 200) -> Iterator[list[str]]:
    """Collects (besides logging them) the last `keep` lines this thread prints in the block:
    PHALP reports a failed tracking run only by printing the exception."""
    before = getattr(_tls, "capture", None)

    class Bounded(list):
        def append(self, item: str) -> None:
            super().append(item)
            if len(self) > keep:
                del self[0]

    collected = Bounded()
    _tls.capture = collected
    try:
        yield collected
    finally:
        _tls.capture = before


def progress_bar(sequence: Iterable, total: Optional[int] = None, description: Optional[str] = None,
                 disable: bool = False, log: logging.Logger = logging.getLogger("phalp.progress")) -> Iterator:
    """Drop-in for PHALP's rich `progress_bar(sequence, total, description, disable)`: the same
    items, with a debug record every 10 % and an info record at the end instead of a live bar."""
    if total is None:
        try:
            total = len(sequence)  # type: ignore[arg-type]
        except TypeError:
            total = 0
    what = description or "progress"
    started, done, next_pct = time.monotonic(), 0, 10
    for item in sequence:
        yield item
        done += 1
        if total and done * 100 >= next_pct * total and done < total:
            log.debug(what, extra={"done": done, "total": total, "percent": done * 100 // total})
            next_pct = (done * 100 // total) // 10 * 10 + 10
    log.info(f"{what}: {done} steps", extra={"done": done, "total": total,
                                             "seconds": round(time.monotonic() - started, 2)})
