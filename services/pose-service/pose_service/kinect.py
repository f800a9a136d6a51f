"""Live Azure Kinect frames from the Redis stream the host capture writes (`devstack kinect
capture`, stream `kinect:frames`). The consumer always takes the newest frame and counts the
ones it skipped: pose estimation is slower than 30 fps, and stale frames are worthless."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from .health import Health
from .tracks import BoxTracker

log = logging.getLogger("pose_service.kinect")


class FrameError(ValueError):
    pass


@dataclass
class Frame:
    id: bytes
    seq: int
    device_ts_usec: int
    host_ts_ns: int
    source: str
    depth: Optional[np.ndarray]  # (h, w) uint16 millimetres, or None when depth is off
    color: bytes
    color_format: str
    color_w: int
    color_h: int


def _field(fields: dict, name: str, required: bool = True) -> Optional[bytes]:
    value = fields.get(name.encode(), fields.get(name))
    if value is None and required:
        raise FrameError(f"stream entry has no `{name}` field")
    return value if value is None or isinstance(value, bytes) else str(value).encode()


def decode(entry_id: bytes, fields: dict) -> Frame:
    """One stream entry → Frame. Depth is raw DEPTH16 little-endian, row-major."""
    def num(name: str, default: int = 0) -> int:
        raw = _field(fields, name, required=False)
        try:
            return int(raw) if raw else default
        except ValueError:
            raise FrameError(f"field `{name}` is not an integer: {raw[:20]!r}") from None

    depth_raw = _field(fields, "depth", required=False) or b""
    w, h = num("depth_w"), num("depth_h")
    depth = None
    if depth_raw:
        if len(depth_raw) != w * h * 2:
            raise FrameError(f"depth has {len(depth_raw)} bytes, expected {w}x{h}x2 = {w * h * 2}")
        depth = np.frombuffer(depth_raw, dtype="<u2").reshape(h, w)
    return Frame(
        id=entry_id,
        seq=num("seq"),
        device_ts_usec=num("device_ts_usec"),
        host_ts_ns=num("host_ts_ns"),
        source=(_field(fields, "source", required=False) or b"k4a").decode(),
        depth=depth,
        color=_field(fields, "color", required=False) or b"",
        color_format=(_field(fields, "color_format", required=False) or b"").decode().lower(),
        color_w=num("color_w"),
        color_h=num("color_h"),
    )


def color_rgb(frame: Frame) -> Optional[np.ndarray]:
    """The colour image as HxWx3 RGB uint8 (None when the capture sends no colour)."""
    if not frame.color:
        return None
    w, h = frame.color_w, frame.color_h
    if frame.color_format == "bgra32":
        if len(frame.color) != w * h * 4:
            raise FrameError(f"bgra32 colour has {len(frame.color)} bytes, expected {w * h * 4}")
        return np.frombuffer(frame.color, np.uint8).reshape(h, w, 4)[..., 2::-1].copy()
    import cv2  # in the image; only needed for compressed formats

    if frame.color_format == "mjpg":
        bgr = cv2.imdecode(np.frombuffer(frame.color, np.uint8), cv2.IMREAD_COLOR)
        if bgr is None:
            raise FrameError("colour frame is not a decodable JPEG")
        return bgr[..., ::-1].copy()
    if frame.color_format == "nv12":
        yuv = np.frombuffer(frame.color, np.uint8).reshape(h * 3 // 2, w)
        return cv2.cvtColor(yuv, cv2.COLOR_YUV2RGB_NV12)
    raise FrameError(f"unknown colour format {frame.color_format!r}")


class LatestFrameReader:
    """XREAD BLOCK from the last seen id; of what arrived, keep the newest."""

    def __init__(self, redis: Any, stream: str) -> None:
        self.redis, self.stream, self.last_id = redis, stream, b"$"

    def read(self, block_ms: int = 1000) -> tuple[Optional[Frame], int]:
        """(newest frame or None on timeout, number of older frames skipped)."""
        if self.last_id == b"$":
            # Pin the start: frames that arrive between two reads must not be missed.
            newest = self.redis.xrevrange(self.stream, count=1)
            self.last_id = newest[0][0] if newest else b"0-0"
        reply = self.redis.xread({self.stream: self.last_id}, block=block_ms, count=1000)
        if not reply:
            return None, 0
        entries = reply[0][1]
        entry_id, fields = entries[-1]
        self.last_id = entry_id
        return decode(entry_id, fields), len(entries) - 1


def run_consumer(reader: LatestFrameReader, runner: Any, redis: Any, results_stream: str,
                 health: Health, stop, maxlen: int = 1000) -> None:
    """Estimates poses on the newest frames and publishes them to `results_stream`: one entry
    per estimated frame, `seq` naming the frame, `people` a JSON list (see `publish`)."""
    tracker = BoxTracker()
    while not stop.is_set():
        try:
            frame, skipped = reader.read()
        except FrameError as err:
            log.warning("bad kinect frame", extra={"error": str(err)})
            continue
        except Exception as err:  # Redis restarting
            log.warning("cannot read kinect frames", extra={"error": str(err)})
            stop.wait(2.0)
            continue
        if frame is None:
            continue
        rgb = color_rgb(frame)
        people = runner.estimate(rgb) if rgb is not None else []
        for person, pid in zip(people, tracker.assign([p["bbox"] for p in people])):
            person["id"] = pid
        latency_ms = (time.time_ns() - frame.host_ts_ns) / 1e6 if frame.host_ts_ns else 0.0
        health.record_frame(skipped, latency_ms)
        publish(redis, results_stream, frame, people, latency_ms, maxlen)


def publish(redis: Any, stream: str, frame: Frame, people: list[dict], latency_ms: float, maxlen: int) -> None:
    """One result entry. Each person: `id` (stable across frames), `score` (detection),
    `bbox` and `keypoints_2d` in the colour image's pixels (`color_w` x `color_h`),
    `keypoints_3d`, `cam_t`, `betas`. `latency_ms`: the frame's capture to this publish."""
    redis.xadd(stream, {
        "seq": frame.seq, "host_ts_ns": frame.host_ts_ns, "source": frame.source,
        "color_w": frame.color_w, "color_h": frame.color_h,
        "latency_ms": round(latency_ms, 2), "people": json.dumps(people),
    }, maxlen=maxlen, approximate=True)
