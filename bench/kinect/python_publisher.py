#!/usr/bin/env python3
"""The Python publisher devstack's Rust one is compared with: the approach the requirements
started from (a pyk4a-style loop: take a capture, XADD it with redis-py, repeat), with the same
stream fields, frame sizes and rate.

Frames are copied from a template stream written by `devstack kinect capture --source
synthetic` (same depth pattern, same JPEGs), so both publishers ship identical bytes. Pacing
is a fixed 30 fps schedule, like the camera's.
"""

import argparse
import time

import redis


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--redis", required=True)
    p.add_argument("--stream", default="kinect:frames")
    p.add_argument("--template-stream", required=True)
    p.add_argument("--maxlen", type=int, default=300)
    p.add_argument("--fps", type=int, default=30)
    p.add_argument("--duration", type=float, required=True)
    p.add_argument(
        "--packer",
        choices=["python", "hiredis"],
        default="hiredis",
        help="redis-py's command serializer: hiredis (its default when hiredis is installed, "
        "as in `pip install redis[hiredis]`) or its pure-Python one",
    )
    args = p.parse_args()

    if args.packer == "python":
        # redis-py picks its serializer from this flag when a connection is made
        redis.connection.HIREDIS_AVAILABLE = False
    elif not redis.connection.HIREDIS_AVAILABLE:
        raise SystemExit("--packer hiredis needs the hiredis package")
    r = redis.Redis.from_url(args.redis)
    template = [fields for _, fields in r.xrange(args.template_stream, count=30)]
    if not template:
        raise SystemExit(f"template stream {args.template_stream} is empty")

    period = 1.0 / args.fps
    start = time.monotonic()
    seq = 0
    while time.monotonic() - start < args.duration:
        due = start + seq * period
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        t = template[seq % len(template)]
        entry = {
            "seq": seq,
            "device_ts_usec": int(seq * period * 1e6),
            "host_ts_ns": time.time_ns(),
            "source": "python",
            "depth_w": t[b"depth_w"],
            "depth_h": t[b"depth_h"],
            "color_format": t[b"color_format"],
            "color_w": t[b"color_w"],
            "color_h": t[b"color_h"],
            "depth": t[b"depth"],
            "color": t[b"color"],
        }
        r.xadd(args.stream, entry, maxlen=args.maxlen, approximate=True)
        seq += 1
    print(f"python publisher ({args.packer} packer): {seq} frames in {time.monotonic() - start:.1f} s")


if __name__ == "__main__":
    main()
