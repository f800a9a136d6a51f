#!/usr/bin/env python3
"""Recording benchmark (issue 26): `devstack kinect record` and `--source replay:` (release build).

1. record: the synthetic source (depth 640x576 + 1280x720 MJPG color + IR, 30 fps) to a file for
   --seconds: captures written per second, drops, MB/s, the recorder's CPU (% of one core,
   utime+stime over its whole run from wait4).
2. record flat out: that recording replayed at --speed 10 into a new file (the writer's ceiling).
3. replay at 30 fps into a loopback redis-server, --rounds times: achieved fps; inter-frame
   jitter = |interval between two captures' hand-over stamps (host_ts_ns) - their recorded
   interval (device_ts_usec)|, p50/p99; the same at Redis (stream ids, ms resolution); CPU.
   As root it runs at real-time priority (SCHED_FIFO); a second series runs as `nobody`
   (setpriv) at normal priority, as an unprivileged user gets.
4. floor: a Python loop sleeping to the same 30 Hz schedule in the same run, for the machine's
   own scheduling noise (p50/p99 lateness).

  bench/kinect/recording.sh --seconds 20 --rounds 3   (makes the venv and release binary if missing)
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / "target/release/devstack"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_timed(cmd, cwd, user=None):
    """Runs cmd; returns (stdout, stderr, wall s, cpu s of the process and its threads)."""
    if user is not None:
        cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *cmd]
    start = time.monotonic()
    p = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = p.communicate()
    wall = time.monotonic() - start
    # the child has been reaped by communicate(); its rusage is in RUSAGE_CHILDREN
    if p.returncode != 0:
        raise SystemExit(f"{cmd} failed ({p.returncode}):\n{err.decode()}")
    return out.decode(), err.decode(), wall


def children_cpu():
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def pct(values, q):
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(q * len(s) + 0.5)) - 1))]


def record(workdir, name, source, extra):
    before = children_cpu()
    out, err, wall = run_timed(
        [str(BIN), "kinect", "record", name, "--source", source, "--json", "--overwrite", *extra], workdir
    )
    cpu = children_cpu() - before
    s = json.loads(out)
    return {
        "captures": s["captures"],
        "written": s["written"],
        "dropped": s["dropped"],
        "written_per_s": round(s["written_per_s"], 1),
        "mb_per_s": round(s["bytes"] / 1e6 / s["wall_s"], 1),
        "file_mb": round(s["bytes"] / 1e6, 1),
        "cpu_pct_of_core": round(100 * cpu / wall, 1),
    }


def replay(workdir, port, stream, user):
    before = children_cpu()
    _, _, wall = run_timed(
        [str(BIN), "kinect", "capture", "--source", "replay:bench.mkv", "--redis",
         f"redis://127.0.0.1:{port}", "--stream", stream, "--maxlen", "100000"],
        workdir,
        user,
    )
    cpu = children_cpu() - before
    r = redis.Redis(port=port)
    host, dev, ids = [], [], []
    last = "-"
    while True:
        batch = r.xrange(stream, min=last, max="+", count=64)
        if last != "-":
            batch = batch[1:]
        if not batch:
            break
        for eid, f in batch:
            host.append(int(f[b"host_ts_ns"]))
            dev.append(int(f[b"device_ts_usec"]))
            ids.append(int(eid.split(b"-")[0]))
        last = batch[-1][0].decode()
    r.delete(stream)
    err = [abs((host[i] - host[i - 1]) / 1e6 - (dev[i] - dev[i - 1]) / 1e3) for i in range(1, len(host))]
    err_redis = [abs((ids[i] - ids[i - 1]) - (dev[i] - dev[i - 1]) / 1e3) for i in range(1, len(ids))]
    return {
        "frames": len(host),
        "fps": round((len(host) - 1) / ((host[-1] - host[0]) / 1e9), 2),
        "jitter_ms_p50": round(pct(err, 0.5), 3),
        "jitter_ms_p99": round(pct(err, 0.99), 3),
        "jitter_ms_max": round(max(err), 3),
        "redis_jitter_ms_p50": round(pct(err_redis, 0.5), 2),
        "redis_jitter_ms_p99": round(pct(err_redis, 0.99), 2),
        "cpu_pct_of_core": round(100 * cpu / wall, 1),
    }


def floor(seconds):
    t0 = time.monotonic()
    late = []
    for i in range(1, int(seconds * 30)):
        due = t0 + i / 30
        d = due - time.monotonic()
        if d > 0:
            time.sleep(d)
        late.append((time.monotonic() - due) * 1000)
    return {"late_ms_p50": round(pct(late, 0.5), 3), "late_ms_p99": round(pct(late, 0.99), 3)}


def median_of(rounds):
    return {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    workdir = tempfile.mkdtemp(prefix="devstack-rec-bench-")
    os.chmod(workdir, 0o755)
    port = free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        time.sleep(0.5)
        frames = str(int(args.seconds * 30))
        result = {"seconds": args.seconds, "rounds": args.rounds}
        result["record_synthetic_30fps"] = record(workdir, "bench.mkv", "synthetic", ["--frames", frames])
        os.chmod(Path(workdir) / "bench.mkv", 0o644)
        result["record_flat_out"] = record(workdir, "copy.mkv", "replay:bench.mkv", ["--speed", "10"])
        os.remove(Path(workdir) / "copy.mkv")
        result["replay_realtime"] = median_of([replay(workdir, port, "rt", None) for _ in range(args.rounds)])
        if os.geteuid() == 0:
            result["replay_unprivileged"] = median_of(
                [replay(workdir, port, "nobody", 65534) for _ in range(args.rounds)]
            )
        result["floor_python_sleep_30hz"] = floor(min(args.seconds, 10))
        result["loadavg_at_end"] = open("/proc/loadavg").read().split()[:3]
        result["cores"] = os.cpu_count()
        print(json.dumps(result, indent=2))
    finally:
        server.terminate()
        for f in Path(workdir).iterdir():
            f.unlink()
        os.rmdir(workdir)


if __name__ == "__main__":
    main()
