#!/usr/bin/env python3
"""Read Azure Kinect frames that `devstack kinect capture` publishes to a Redis stream.

Copy this into a container service: `pip install "redis[hiredis]" numpy pillow` (Pillow decodes
MJPG color; without it the JPEG bytes are passed on as they are). In a container on the
compose network use the service name, e.g. --redis redis://redis:6379.

Each stream entry is one capture:
  seq, device_ts_usec, host_ts_ns   frame number, camera clock (µs), host wall clock (ns since
                                    the Unix epoch, when the capture reached the host process)
  source                            "k4a" (the camera) or "synthetic" (test frames)
  depth, depth_w, depth_h           DEPTH16: little-endian uint16 millimetres, rows packed
                                    (0 = no depth); empty when depth is off
  color, color_format, color_w,     "mjpg" (a JPEG file), "nv12" or "bgra32" (raw, rows packed);
  color_h                           color_format "off" and empty color when color is off

The consumer always works on the newest frame: when it falls behind, older entries returned by
the same XREAD are skipped (and counted). Latency is this host's clock minus host_ts_ns, so the
consumer must run on the same machine (a container shares the host's clock).

  python3 kinect_consumer.py --redis redis://127.0.0.1:6379 --stream kinect:frames
"""

import argparse
import io
import json
import os
import sys
import time

import numpy as np
import redis

try:
    from PIL import Image
except ImportError:  # color stays as JPEG bytes
    Image = None


def decode_depth(fields):
    w, h = int(fields[b"depth_w"]), int(fields[b"depth_h"])
    if w == 0:
        return None
    return np.frombuffer(fields[b"depth"], dtype="<u2").reshape(h, w)


def decode_color(fields):
    fmt = fields[b"color_format"].decode()
    w, h = int(fields[b"color_w"]), int(fields[b"color_h"])
    data = fields[b"color"]
    if fmt == "off":
        return None
    if fmt == "bgra32":
        return np.frombuffer(data, dtype=np.uint8).reshape(h, w, 4)
    if fmt == "nv12":  # Y plane (h rows) then interleaved UV (h/2 rows)
        return np.frombuffer(data, dtype=np.uint8).reshape(h * 3 // 2, w)
    if Image is None:
        return data
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def handle_frame(depth, color):
    """Replace with the service's work (pose estimation, …)."""


def percentile(values, q):
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--redis", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379"))
    p.add_argument("--stream", default="kinect:frames")
    p.add_argument("--from-start", action="store_true", help="read the stream's history first")
    p.add_argument("--no-decode", action="store_true", help="measure transport only")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.add_argument("--frames", type=int, help="stop after this many frames")
    p.add_argument("--every", type=float, default=2.0, help="seconds between stats lines")
    p.add_argument("--summary-json", help="write a JSON summary here at the end")
    args = p.parse_args()

    r = redis.Redis.from_url(args.redis)
    r.ping()
    last_id = "0" if args.from_start else "$"
    print(f"reading {args.stream} on {args.redis} from {'the start' if args.from_start else 'now'}", flush=True)
    started = window_start = time.monotonic()
    window_frames, window_lat = 0, []
    all_lat, frames, skipped, seq_gaps, last_seq = [], 0, 0, 0, None
    source = None
    try:
        while True:
            now = time.monotonic()
            if args.duration and now - started >= args.duration:
                break
            if args.frames and frames >= args.frames:
                break
            try:
                reply = r.xread({args.stream: last_id}, block=1000, count=100)
            except redis.ConnectionError as e:  # Redis restarting: keep trying
                print(f"redis unavailable ({e}); retrying", file=sys.stderr)
                time.sleep(0.5)
                continue
            received_ns = time.time_ns()
            if not reply:
                continue
            entries = reply[0][1]
            for entry_id, fields in entries:
                latency_ms = (received_ns - int(fields[b"host_ts_ns"])) / 1e6
                window_lat.append(latency_ms)
                all_lat.append(latency_ms)
                seq = int(fields[b"seq"])
                if last_seq is not None and seq > last_seq + 1:
                    seq_gaps += seq - last_seq - 1
                last_seq = seq
                last_id = entry_id
            frames += len(entries)
            window_frames += len(entries)
            skipped += len(entries) - 1
            newest = entries[-1][1]
            source = newest[b"source"].decode()
            if not args.no_decode:
                depth = decode_depth(newest)  # (h, w) uint16 millimetres
                color = decode_color(newest)  # PIL image, or (h, w, 4) / NV12 array
                handle_frame(depth, color)
            if now - window_start >= args.every:
                span = now - window_start
                print(
                    f"[{source}] {window_frames / span:.1f} fps, latency p50 "
                    f"{percentile(window_lat, 0.5):.2f} ms p99 {percentile(window_lat, 0.99):.2f} ms, "
                    f"skipped {skipped}, seq gaps {seq_gaps}",
                    flush=True,
                )
                window_start, window_frames, window_lat = now, 0, []
    except KeyboardInterrupt:
        pass
    elapsed = time.monotonic() - started
    summary = {
        "source": source,
        "frames": frames,
        "seconds": round(elapsed, 3),
        "fps": round(frames / elapsed, 2) if elapsed else 0,
        "latency_ms_p50": percentile(all_lat, 0.5),
        "latency_ms_p99": percentile(all_lat, 0.99),
        "latency_ms_max": max(all_lat) if all_lat else None,
        "skipped": skipped,
        "seq_gaps": seq_gaps,
    }
    print(json.dumps(summary))
    if args.summary_json:
        with open(args.summary_json, "w") as f:
            json.dump(summary, f, indent=2)


if __name__ == "__main__":
    main()
