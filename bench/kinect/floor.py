#!/usr/bin/env python3
"""The floor under any publisher on this machine: one pre-built XADD written to a raw socket
and its reply read back, no client library. Run against an idle loopback redis-server:

  bench/kinect/.venv/bin/python bench/kinect/floor.py --port 6379
"""

import argparse
import os
import socket
import time


def bulk(b):
    return b"$%d\r\n" % len(b) + b + b"\r\n"


def command(args):
    return b"*%d\r\n" % len(args) + b"".join(bulk(a) for a in args)


def measure(sock, stream, payload, n):
    lat = []
    for i in range(n):
        fields = [b"seq", str(i).encode()] + payload
        c = command([b"XADD", stream, b"MAXLEN", b"~", b"300", b"*"] + fields)
        t = time.perf_counter()
        sock.sendall(c)
        reply = b""
        while not reply.endswith(b"\r\n") or reply.startswith(b"$") and reply.count(b"\r\n") < 2:
            reply += sock.recv(100)
        lat.append((time.perf_counter() - t) * 1000)
        time.sleep(1 / 30)
    lat.sort()
    return lat[len(lat) // 2], lat[int(len(lat) * 0.99)]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--frames", type=int, default=600)
    args = p.parse_args()
    sock = socket.create_connection(("127.0.0.1", args.port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    frame = [b"depth", os.urandom(737_280), b"color", os.urandom(153_000)]
    for name, payload in (("0.9 MB frame", frame), ("no payload", [])):
        p50, p99 = measure(sock, b"floor:" + name.split()[0].encode(), payload, args.frames)
        print(f"raw-socket XADD, {name}: p50 {p50:.2f} ms, p99 {p99:.2f} ms")


if __name__ == "__main__":
    main()
