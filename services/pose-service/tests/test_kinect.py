import json
import threading
import time

import numpy as np
import pytest

from conftest import ScriptedRunner
from pose_service import kinect
from pose_service.health import Health


def entry(seq, w=4, h=3, color=None):
    depth = np.arange(w * h, dtype="<u2").reshape(h, w) + seq
    color = color if color is not None else np.full((2, 2, 4), [10, 20, 30, 255], np.uint8).tobytes()
    fields = {"seq": seq, "device_ts_usec": 1000 * seq, "host_ts_ns": time.time_ns(),
              "depth": depth.tobytes(), "depth_w": w, "depth_h": h, "color": color,
              "color_format": "bgra32", "color_w": 2, "color_h": 2, "source": "synthetic"}
    return fields


def as_redis(fields):
    """Field names and values as redis-py returns them: bytes."""
    return {k.encode(): v if isinstance(v, bytes) else str(v).encode() for k, v in fields.items()}


def test_decode_depth_and_header():
    f = kinect.decode(b"1-0", as_redis(entry(7)))
    assert (f.seq, f.device_ts_usec, f.source) == (7, 7000, "synthetic")
    assert f.depth.shape == (3, 4) and f.depth.dtype == np.uint16
    assert f.depth[0, 0] == 7 and f.depth[2, 3] == 18


def test_bgra_colour_becomes_rgb():
    f = kinect.decode(b"1-0", as_redis(entry(1)))
    rgb = kinect.color_rgb(f)
    assert rgb.shape == (2, 2, 3)
    assert rgb[0, 0].tolist() == [30, 20, 10]


@pytest.mark.parametrize("over, message", [
    ({"depth_w": 5}, "expected 5x3x2 = 30"),
    ({"seq": "x"}, "`seq` is not an integer"),
])
def test_malformed_entries_are_named(over, message):
    with pytest.raises(kinect.FrameError, match=message):
        kinect.decode(b"1-0", as_redis({**entry(1), **over}))


def test_reader_takes_the_newest_frame_and_counts_skips(redis_client):
    stream = f"test:kinect:{time.time_ns()}"
    reader = kinect.LatestFrameReader(redis_client, stream)
    assert reader.read(block_ms=50) == (None, 0)
    for seq in range(1, 6):
        redis_client.xadd(stream, entry(seq))
    frame, skipped = reader.read(block_ms=50)
    assert (frame.seq, skipped) == (5, 4)
    redis_client.xadd(stream, entry(6))
    frame, skipped = reader.read(block_ms=50)
    assert (frame.seq, skipped) == (6, 0)
    redis_client.delete(stream)


def test_consumer_publishes_poses_for_live_frames(redis_client):
    stream, results = f"test:kinect:{time.time_ns()}", f"test:results:{time.time_ns()}"
    health, stop = Health(), threading.Event()
    reader = kinect.LatestFrameReader(redis_client, stream)
    reader.read(block_ms=1)  # pin the start before frames arrive
    worker = threading.Thread(target=kinect.run_consumer,
                              args=(reader, ScriptedRunner(), redis_client, results, health, stop))
    worker.start()
    try:
        for seq in (42, 43):
            redis_client.xadd(stream, entry(seq))
            deadline = time.monotonic() + 5
            while redis_client.xlen(results) < seq - 41 and time.monotonic() < deadline:
                time.sleep(0.02)
    finally:
        stop.set()
        worker.join(5)
    [(_, first), (_, second)] = redis_client.xrange(results)
    assert first[b"seq"] == b"42" and first[b"source"] == b"synthetic"
    assert (first[b"color_w"], first[b"color_h"]) == (b"2", b"2")
    people = json.loads(first[b"people"])
    assert people[0]["bbox"] == [0, 0, 2, 2]
    # The same box on the next frame: the same person.
    assert people[0]["id"] == json.loads(second[b"people"])[0]["id"] == 1
    assert health.snapshot()["stats"]["frames_processed"] == 2
    redis_client.delete(stream, results)
