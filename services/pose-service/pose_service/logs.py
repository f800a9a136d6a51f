"""JSON logs on stderr, one object per line. Configured before PHALP or hmr2 is imported:
PHALP calls logging.basicConfig with a rich handler at import, which is a no-op once the
root logger has a handler."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import IO, Optional

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
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.captureWarnings(True)
    for name in _NOISY:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
