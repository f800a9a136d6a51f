"""What the service reports about itself: model state, GPU, timings and counters.

States: starting → downloading → loading → ready; `disabled` when it runs without a GPU on
purpose (DEVSTACK_GPU=none or CUDA unavailable): healthy, but it takes no work; `error` when
loading failed (with the reason and the fix)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Optional

STATES = ("starting", "downloading", "loading", "ready", "disabled", "error")
HEALTHY = ("ready", "disabled")


@dataclass
class Stats:
    jobs_done: int = 0
    jobs_failed: int = 0
    jobs_running: int = 0
    last_job_seconds: Optional[float] = None
    frames_processed: int = 0
    frames_skipped: int = 0
    last_frame_latency_ms: Optional[float] = None


@dataclass
class _State:
    state: str = "starting"
    detail: str = ""
    error: Optional[str] = None
    fix: Optional[str] = None
    device: dict = field(default_factory=dict)
    versions: dict = field(default_factory=dict)
    load_seconds: Optional[float] = None


class Health:
    """Thread-safe: the loader, the workers and the HTTP server share one instance."""

    def __init__(self, clock=time.monotonic) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._started = clock()
        self._loading_since: Optional[float] = None
        self._s = _State()
        self.stats = Stats()

    def set(self, state: str, detail: str = "") -> None:
        if state not in STATES:
            raise ValueError(f"unknown state {state}")
        with self._lock:
            if state in ("downloading", "loading") and self._loading_since is None:
                self._loading_since = self._clock()
            self._s.state, self._s.detail = state, detail
            if state != "error":
                self._s.error = self._s.fix = None

    def ready(self, device: dict, versions: dict) -> None:
        with self._lock:
            since = self._loading_since if self._loading_since is not None else self._started
            self._s.load_seconds = round(self._clock() - since, 3)
            self._s.state, self._s.detail = "ready", ""
            self._s.device, self._s.versions = dict(device), dict(versions)
            self._s.error = self._s.fix = None

    def disabled(self, reason: str, device: Optional[dict] = None) -> None:
        with self._lock:
            self._s.state, self._s.detail = "disabled", reason
            self._s.device = dict(device or {"cuda": False, "reason": reason})

    def failed(self, error: str, fix: Optional[str] = None) -> None:
        with self._lock:
            self._s.state, self._s.detail = "error", ""
            self._s.error, self._s.fix = error, fix

    @property
    def state(self) -> str:
        with self._lock:
            return self._s.state

    @property
    def healthy(self) -> bool:
        return self.state in HEALTHY

    def record_job(self, ok: bool, seconds: float) -> None:
        with self._lock:
            if ok:
                self.stats.jobs_done += 1
            else:
                self.stats.jobs_failed += 1
            self.stats.last_job_seconds = round(seconds, 3)

    def job_running(self, delta: int) -> None:
        with self._lock:
            self.stats.jobs_running += delta

    def record_frame(self, skipped: int, latency_ms: float) -> None:
        with self._lock:
            self.stats.frames_processed += 1
            self.stats.frames_skipped += skipped
            self.stats.last_frame_latency_ms = round(latency_ms, 2)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            s = self._s
            out: dict[str, Any] = {
                "status": "ok" if s.state in HEALTHY else s.state,
                "state": s.state,
                "uptime_seconds": round(self._clock() - self._started, 3),
                "device": dict(s.device),
                "versions": dict(s.versions),
                "load_seconds": s.load_seconds,
                "stats": vars(self.stats).copy(),
            }
            if s.detail:
                out["detail"] = s.detail
            if s.error:
                out["error"] = s.error
            if s.fix:
                out["fix"] = s.fix
            return out

    def metrics(self) -> str:
        """Prometheus text exposition of the counters and the state."""
        snap = self.snapshot()
        lines = [
            "# TYPE pose_state gauge",
            *(f'pose_state{{state="{st}"}} {int(snap["state"] == st)}' for st in STATES),
            f"pose_uptime_seconds {snap['uptime_seconds']}",
        ]
        if snap["load_seconds"] is not None:
            lines.append(f"pose_model_load_seconds {snap['load_seconds']}")
        for key, value in snap["stats"].items():
            if value is not None:
                kind = "gauge" if key in ("jobs_running", "last_job_seconds", "last_frame_latency_ms") else "counter"
                name = f"pose_{key}" + ("_total" if kind == "counter" else "")
                lines += [f"# TYPE {name} {kind}", f"{name} {value}"]
        for key, value in snap["device"].items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                lines.append(f"pose_device_{key} {value}")
        return "\n".join(lines) + "\n"
