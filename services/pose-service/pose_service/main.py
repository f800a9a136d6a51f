"""Entry point: logs first (before PHALP's import-time logging setup), then config, the
health server, model loading in the background, and the workers."""

from __future__ import annotations

import logging
import os
import signal
import threading

from . import __version__, logs
from .config import ConfigError, load, normalise_level
from .health import Health
from .server import serve

log = logging.getLogger("pose_service")


def main() -> int:
    try:
        level = normalise_level(os.environ.get("LOG_LEVEL") or "info")
    except ConfigError:
        level = "info"
    logs.configure(level)
    logs.route_std_streams()  # what libraries print becomes JSON lines too
    try:
        config = load(os.environ)
    except ConfigError as err:
        log.error("invalid configuration", extra={"error": str(err)})
        return 2

    import redis

    from . import jobs, service
    from .hmr2_runner import Hmr2Runner

    health = Health()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    client = redis.Redis.from_url(config.redis_url, socket_timeout=10, health_check_interval=30)
    queue = jobs.JobQueue(client, config.queue_key)
    server = serve(health, config.http_port, extra=service.health_extra(config, queue))
    log.info("pose-service starting", extra={"version": __version__, "mode": config.mode,
                                            "gpu": config.gpu_request, "port": config.http_port})
    store = jobs.MongoStatusStore(config.mongo_url, config.mongo_db)
    runner = Hmr2Runner(config)

    def lifecycle() -> None:
        outcome = service.load_models(runner, config, health, stop)
        if outcome:
            service.start_workers(outcome, runner, config, health, stop, client, store)

    threading.Thread(target=lifecycle, name="lifecycle", daemon=True).start()
    stop.wait()
    log.info("pose-service stopping")
    server.shutdown()
    return 0
