#!/usr/bin/env python3
"""Kinect publishing benchmark: devstack's Rust publisher vs an equivalent Python (redis-py)
publisher, in one run, on one loopback redis-server, read by the same consumer
(examples/kinect_consumer.py --no-decode).

Per publisher: synthetic depth 640x576 DEPTH16 + 1280x720 MJPG color at 30 fps for --duration
seconds. Reported: sustained fps at the consumer, drops (publisher-side and seq gaps seen by the
consumer), publish→consume latency p50/p99 (consumer clock minus the entry's host_ts_ns), and the
publisher's CPU (% of one core, utime+stime from /proc/<pid>/stat over the steady part of the run).

  bench/kinect/run.sh --duration 60     (makes the venv and the release binary if missing)
"""

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    """utime + stime of a process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine():
    def run(*cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True).stdout.strip()
        except OSError:
            return "?"

    model = next(
        (l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")),
        "?",
    )
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "redis": run("redis-server", "--version"),
        "python": platform.python_version(),
        "rustc": run("rustc", "--version"),
        "loadavg_at_end": open("/proc/loadavg").read().split()[:3],
    }


def measure(name, publisher_cmd, consumer_cmd, duration, warmup):
    consumer = subprocess.Popen(consumer_cmd, stdout=subprocess.PIPE, text=True)
    consumer.stdout.readline()  # "reading …": it is connected and waits at "$"
    time.sleep(0.2)
    started = time.monotonic()
    pub = subprocess.Popen(publisher_cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(warmup)
    cpu0, t0 = cpu_seconds(pub.pid), time.monotonic()
    time.sleep(max(1.0, duration - warmup - 2.0))
    cpu1, t1 = cpu_seconds(pub.pid), time.monotonic()
    pub_out, _ = pub.communicate(timeout=duration + 30)
    consumer_out, _ = consumer.communicate(timeout=duration + 30)
    summary = json.loads(consumer_out.strip().splitlines()[-1])
    return {
        "publisher": name,
        "publisher_exit": pub.returncode,
        "publisher_wall_s": round(time.monotonic() - started, 2),
        "cpu_percent_of_one_core": round(100 * (cpu1 - cpu0) / (t1 - t0), 2),
        "cpu_window_s": round(t1 - t0, 1),
        "consumer": summary,
        "publisher_log_tail": pub_out.strip().splitlines()[-3:],
    }


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--duration", type=float, default=60)
    p.add_argument("--warmup", type=float, default=5)
    p.add_argument("--binary", default=str(ROOT / "target/release/devstack"))
    p.add_argument("--out", default=str(HERE / "results"))
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    py = sys.executable
    load_at_start = open("/proc/loadavg").read().split()[:3]

    port = free_port()
    url = f"redis://127.0.0.1:{port}"
    redis_server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        time.sleep(0.5)
        # The Python publisher ships the Rust synthetic source's own frames: identical bytes.
        subprocess.run(
            [args.binary, "kinect", "capture", "--source", "synthetic", "--redis", url,
             "--stream", "bench:template", "--frames", "30"],
            check=True, stdout=subprocess.DEVNULL,
        )
        consumer = lambda stream, tag: [  # noqa: E731
            py, str(ROOT / "examples/kinect_consumer.py"), "--redis", url, "--stream", stream,
            "--no-decode", "--every", "10", "--duration", str(args.duration + 2),
            "--summary-json", str(out / f"consumer-{tag}.last.json"),
        ]
        runs = [
            measure(
                "rust (devstack kinect capture)",
                [args.binary, "kinect", "capture", "--source", "synthetic", "--redis", url,
                 "--stream", "bench:rust", "--duration", f"{args.duration}s",
                 "--health-file", str(out / "health-rust.last.json")],
                consumer("bench:rust", "rust"),
                args.duration, args.warmup,
            ),
            *[
                measure(
                    f"python (redis-py loop, {packer} packer)",
                    [py, str(HERE / "python_publisher.py"), "--redis", url,
                     "--stream", f"bench:python-{packer}", "--template-stream", "bench:template",
                     "--duration", str(args.duration), "--packer", packer],
                    consumer(f"bench:python-{packer}", f"python-{packer}"),
                    args.duration, args.warmup,
                )
                for packer in ("python", "hiredis")
            ],
        ]
        health = json.loads((out / "health-rust.last.json").read_text())
        runs[0]["publisher_dropped"] = health["dropped"]
        runs[0]["publisher_latency_ms"] = health["run"]["publish_latency_ms"]
        runs[0]["captures"] = health["captures"]
        report = {
            "machine": machine(),
            "loadavg_at_start": load_at_start,
            "duration_s": args.duration,
            "runs": runs,
        }
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        (out / f"run-{stamp}.json").write_text(json.dumps(report, indent=2))
        print(json.dumps(report, indent=2))
        print()
        print("| publisher | fps at consumer | drops (publisher / seq gaps) | latency p50 | latency p99 | CPU (% of one core) |")
        print("|---|---|---|---|---|---|")
        for r in runs:
            c = r["consumer"]
            fps = c["frames"] / args.duration
            print(
                f"| {r['publisher']} | {fps:.2f} | {r.get('publisher_dropped', 'n/a')} / {c['seq_gaps']} "
                f"| {c['latency_ms_p50']:.2f} ms | {c['latency_ms_p99']:.2f} ms | {r['cpu_percent_of_one_core']:.2f} % |"
            )
    finally:
        redis_server.terminate()
        redis_server.wait()


if __name__ == "__main__":
    main()
