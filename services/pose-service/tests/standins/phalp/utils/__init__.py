import logging
import sys


def get_pylogger(name=__name__):
    # Upstream: logging.basicConfig(level="INFO", handlers=[RichHandler()]), at import time.
    logging.basicConfig(level="INFO", format="%(message)s", handlers=[logging.StreamHandler(sys.stdout)])
    return logging.getLogger(name)
