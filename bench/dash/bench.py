#!/usr/bin/env python3
"""`devstack dash`, measured in a real terminal (tmux), on the 5-service test stack
(tests/fixtures/stack5) plus a `flood` service:

  idle CPU        dash's CPU time over 30 s with the stack idle, as % of one core (target <= 1 %)
  redraw latency  from the engine's health_status event of a service (docker events, ns) to the
                  dashboard's screen showing it, polling the tmux pane every 10 ms (target <= 200 ms)
  flood           `flood` prints ~10,000 lines/s for 30 s: dash's CPU, its peak and final RSS
                  (memory flat: bounded buffers), and the redraw latency measured again during it

Needs: target/release/devstack, tmux, Docker, static busybox.
Usage: python3 bench/dash/bench.py
"""
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.path.join(ROOT, "target", "release", "devstack")
TICK = os.sysconf("SC_CLK_TCK")


def sh(*a, check=True, **kw):
    return subprocess.run(a, check=check, capture_output=True, text=True, **kw)


def cpu_seconds(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / TICK


def rss_mib(pid):
    for l in open(f"/proc/{pid}/status"):
        if l.startswith("VmRSS:"):
            return int(l.split()[1]) / 1024
    return 0.0


def screen(session):
    return sh("tmux", "capture-pane", "-p", "-t", session).stdout


def row_of(text, name):
    for l in text.splitlines():
        if l.startswith(f"│{name} ") or l.startswith(f"{name} "):
            return l
    return ""


def latency(project, service, session, break_cmd, want):
    """ns from the engine's health_status event of `service` to `want` in its row."""
    events = subprocess.Popen(
        ["docker", "events", "--filter", f"container={project}-{service}-1", "--filter",
         "event=health_status", "--format", "{{json .}}"],
        stdout=subprocess.PIPE, text=True)
    time.sleep(0.3)
    sh(*break_cmd)
    seen = None
    deadline = time.time() + 60
    while time.time() < deadline:
        if f" {want} " in row_of(screen(session), service):
            seen = time.time_ns()
            break
        time.sleep(0.01)
    events.terminate()
    out = events.communicate()[0]
    evs = [json.loads(l) for l in out.splitlines() if l.strip()]
    evs = [e for e in evs if e.get("status", "") == f"health_status: {want}"]
    if seen is None or not evs:
        return None
    return (seen - evs[0]["timeNano"]) / 1e6


def main():
    d = tempfile.mkdtemp()
    shutil.copytree(os.path.join(ROOT, "tests/fixtures/stack5"), d, dirs_exist_ok=True)
    shutil.copy("/bin/busybox", os.path.join(d, "services/bb/busybox"))
    tmpl = os.path.join(d, "templates/compose.yaml.j2")
    t = open(tmpl).read().replace("\nvolumes:\n", """  flood:
    <<: *bb
    command: ["sh", "-c", "while :; do if [ -f /tmp/flood ]; then seq 1 1000; echo 1000 >> /tmp/count; sleep 0.1; else sleep 0.5; fi; done"]
\nvolumes:\n""")
    open(tmpl, "w").write(t)
    name = f"dsbenchdash{os.getpid()}"
    import socket
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    env = dict(os.environ, DEVSTACK_NO_NVML="1", HC_INTERVAL="1s", WEB_PORT=str(port))
    base = [BIN, "-C", d, "-p", name]
    session = f"bench-{name}"
    try:
        subprocess.run(base + ["up", "-d", "--wait-timeout", "120"], env=env, check=True,
                       capture_output=True)
        subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "45",
                        f"env NO_COLOR=1 DEVSTACK_NO_NVML=1 WEB_PORT={port} {BIN} -C {d} -p {name} dash"],
                       check=True)
        time.sleep(5)
        pid = int(sh("pgrep", "-f", f"^{BIN} -C {d} -p {name} dash$").stdout.split()[0])
        # Idle: 30 s.
        c0, t0 = cpu_seconds(pid), time.time()
        time.sleep(30)
        idle = (cpu_seconds(pid) - c0) / (time.time() - t0) * 100
        # Redraw latency: api turns unhealthy (ready file removed), then healthy (restored).
        lat = []
        for _ in range(3):
            l1 = latency(name, "api", session,
                         ["docker", "exec", f"{name}-api-1", "rm", "-f", "/tmp/ready"], "unhealthy")
            l2 = latency(name, "api", session,
                         ["docker", "exec", f"{name}-api-1", "touch", "/tmp/ready"], "healthy")
            lat += [x for x in (l1, l2) if x is not None]
        # Flood: 10k lines/s for 30 s.
        sh("docker", "exec", f"{name}-flood-1", "touch", "/tmp/flood")
        c0, t0 = cpu_seconds(pid), time.time()
        rss = []
        for _ in range(30):
            time.sleep(1)
            rss.append(rss_mib(pid))
        flood_cpu = (cpu_seconds(pid) - c0) / (time.time() - t0) * 100
        flood_secs = time.time() - t0
        flood_lines = sum(int(x) for x in sh("docker", "exec", f"{name}-flood-1", "cat", "/tmp/count").stdout.split())
        flood_lat = []
        for _ in range(2):
            l1 = latency(name, "api", session,
                         ["docker", "exec", f"{name}-api-1", "rm", "-f", "/tmp/ready"], "unhealthy")
            l2 = latency(name, "api", session,
                         ["docker", "exec", f"{name}-api-1", "touch", "/tmp/ready"], "healthy")
            flood_lat += [x for x in (l1, l2) if x is not None]
        sh("docker", "exec", f"{name}-flood-1", "rm", "-f", "/tmp/flood")
        # The rate the flood ran at: its own counter (the engine's log keeps only 2 MB of it).
        print(json.dumps({
            "idle_cpu_pct": round(idle, 2),
            "redraw_ms_median": round(statistics.median(lat), 1) if lat else None,
            "redraw_ms_max": round(max(lat), 1) if lat else None,
            "flood_lines_per_s": round(flood_lines / flood_secs),
            "flood_cpu_pct": round(flood_cpu, 1),
            "flood_rss_mib_first_last_peak": [round(rss[0], 1), round(rss[-1], 1), round(max(rss), 1)],
            "flood_redraw_ms_median": round(statistics.median(flood_lat), 1) if flood_lat else None,
            "flood_redraw_ms_max": round(max(flood_lat), 1) if flood_lat else None,
        }))
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
        subprocess.run(base + ["down", "-v", "-t", "1"], env=env, capture_output=True)
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
