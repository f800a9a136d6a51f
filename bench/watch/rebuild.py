#!/usr/bin/env python3
"""A Dockerfile edit → the recreated service ready: `devstack watch` against its floor, and
`docker-compose up -d --build SVC` after the same edit.

The stack is the watch tests' fixture (tests/fixtures/watched): `app` is built from
services/app/Dockerfile (FROM the static-busybox test image), becomes ready 2 s after it starts
(`sleep 2; touch /tmp/ready`), and has `develop.watch: [{action: rebuild, path: Dockerfile}]`.
Every edit appends a new `RUN echo <token> > /www/version` line, so each build really builds a
layer (the rest is cached, as in a real edit).

- devstack: `devstack up -d app` and `devstack watch app`; one sample is from the write of the
  Dockerfile to devstack's line `app  rebuilt (Dockerfile) in …, recreated, healthy after …`
  (inotify, the 150 ms debounce, the build, the new container started beside the old one, ready,
  the old one stopped and removed, the new one renamed). Beside it, the time until the new
  container is ready by the same exec poll as the docker-compose rounds.
- floor: the same work by hand with the docker CLI, nothing in between: `docker build`, then
  `docker run -d` of the new image, then `docker exec … test -f /tmp/ready` every 50 ms until it
  passes (the healthcheck's own test, polled faster than any health interval).
- docker-compose: `docker-compose -f .devstack/compose.yaml -p P up -d --build app` (the rendered
  file, another project name), then the same exec poll until the new container is ready
  (Compose 1.29's `up -d` does not wait).

Target: devstack ≤ 1.25 × floor (median).

Needs: a release build (target/release/devstack), Docker, docker-compose, /bin/busybox
(busybox-static). Usage: python3 bench/watch/rebuild.py [--edits N]
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.path.join(ROOT, "target", "release", "devstack")
FIXTURE = os.path.join(ROOT, "tests", "fixtures", "watched")


def sh(*cmd, check=True):
    return subprocess.run(cmd, check=check, capture_output=True, text=True)


def until(pred, limit=120.0, every=0.05):
    start = time.monotonic()
    while time.monotonic() - start < limit:
        if pred():
            return
        time.sleep(every)
    raise RuntimeError("timed out")


def ready(container):
    return sh("docker", "exec", container, "test", "-f", "/tmp/ready", check=False).returncode == 0


class Dockerfile:
    def __init__(self, path):
        self.path = path
        self.base = open(path).read()

    def edit(self, token):
        with open(self.path, "w") as f:
            f.write(self.base + f"RUN echo {token} > /www/version\n")


def app_containers(project):
    return sh("docker", "ps", "-q", "--no-trunc", "--filter", f"label=com.docker.compose.project={project}",
              "--filter", "label=com.docker.compose.service=app").stdout.split()


def devstack_rounds(dev, env, dockerfile, n, project):
    subprocess.run(dev + ["up", "-d", "app"], env=env, check=True, capture_output=True)
    watch = subprocess.Popen(dev + ["watch", "app"], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    lines, cond = [], threading.Condition()

    def read():
        for line in watch.stdout:
            with cond:
                lines.append((time.monotonic(), line.rstrip()))
                cond.notify_all()

    threading.Thread(target=read, daemon=True).start()

    def wait_line(pred, since, limit=120):
        deadline = time.monotonic() + limit
        with cond:
            while True:
                for t, l in lines:
                    if t >= since and pred(l):
                        return t, l
                left = deadline - time.monotonic()
                if left <= 0:
                    sys.exit("devstack watch did not print it:\n" + "\n".join(l for _, l in lines))
                cond.wait(left)

    try:
        wait_line(lambda l: "watching:" in l, 0)
        out, ready_at = [], []
        for i in range(n):
            time.sleep(1.0)
            old = set(app_containers(project))
            seen = {}

            def poll():
                # The new container ready, as the docker-compose rounds measure it.
                while "t" not in seen and time.monotonic() - t0 < 120:
                    for c in app_containers(project):
                        if c not in old and ready(c):
                            seen["t"] = time.monotonic()
                            return
                    time.sleep(0.05)

            t0 = time.monotonic()
            dockerfile.edit(f"dv-{i}-{time.time_ns()}")
            poller = threading.Thread(target=poll, daemon=True)
            poller.start()
            t1, line = wait_line(lambda l: "app" in l and ("recreated" in l or "rebuilt" in l), t0)
            poller.join(10)
            if "recreated" not in line:
                sys.exit(f"rebuild {i} did not recreate: {line}")
            out.append(t1 - t0)
            ready_at.append(seen.get("t", t1) - t0)
            print(f"  devstack {i + 1}: {out[-1]:.2f}s to its line, new container ready at {ready_at[-1]:.2f}s"
                  f"  ({line.split('app', 1)[1].strip()})", flush=True)
        return out, ready_at
    finally:
        watch.send_signal(signal.SIGINT)
        try:
            watch.wait(10)
        except subprocess.TimeoutExpired:
            watch.kill()


def floor_rounds(ctx, dockerfile, n, tag):
    out = []
    name = f"{tag}-floor"
    try:
        for i in range(n):
            dockerfile.edit(f"fl-{i}-{time.time_ns()}")
            t0 = time.monotonic()
            sh("docker", "build", "-q", "-t", f"{tag}-floor:latest", ctx)
            t_build = time.monotonic() - t0
            sh("docker", "run", "-d", "--name", name, "--init", f"{tag}-floor:latest",
               "sh", "-c", "sleep 2; touch /tmp/ready; exec httpd -f -p 80 -h /www")
            until(lambda: ready(name))
            out.append(time.monotonic() - t0)
            print(f"  floor {i + 1}: {out[-1]:.2f}s  (build {t_build:.2f}s)", flush=True)
            sh("docker", "rm", "-f", name, check=False)
        return out
    finally:
        sh("docker", "rm", "-f", name, check=False)
        sh("docker", "rmi", "-f", f"{tag}-floor:latest", check=False)


def compose_rounds(compose_file, project, dockerfile, n):
    dc = ["docker-compose", "-f", compose_file, "-p", project]
    env = dict(os.environ, COMPOSE_DOCKER_CLI_BUILD="0")
    subprocess.run(dc + ["up", "-d", "--build", "app"], check=True, capture_output=True, env=env)

    def container():
        ids = sh("docker", "ps", "-q", "--filter", f"label=com.docker.compose.project={project}",
                 "--filter", "label=com.docker.compose.service=app").stdout.split()
        return ids[0] if ids else None

    out = []
    try:
        for i in range(n):
            old = container()
            dockerfile.edit(f"dc-{i}-{time.time_ns()}")
            t0 = time.monotonic()
            subprocess.run(dc + ["up", "-d", "--build", "app"], check=True, capture_output=True, env=env)
            t_up = time.monotonic() - t0
            until(lambda: (c := container()) is not None and c != old and ready(c))
            out.append(time.monotonic() - t0)
            print(f"  docker-compose {i + 1}: {out[-1]:.2f}s  (`up -d --build` returned after {t_up:.2f}s)",
                  flush=True)
        return out
    finally:
        subprocess.run(dc + ["down", "-t", "1", "--rmi", "local"], capture_output=True, env=env)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--edits", type=int, default=5)
    args = ap.parse_args()
    if not os.path.exists(BIN):
        sys.exit("no release build: cargo build --release")
    busybox = next((p for p in ("/bin/busybox", "/usr/bin/busybox") if os.path.exists(p)), None)
    if busybox is None:
        sys.exit("static busybox is needed: apt-get install busybox-static")
    if shutil.which("docker-compose") is None:
        sys.exit("docker-compose is needed for the comparison: apt-get install docker-compose")

    work = tempfile.mkdtemp(prefix="devstack-rebuild-bench-")
    proj = os.path.join(work, "p")
    shutil.copytree(FIXTURE, proj)
    shutil.copy(busybox, os.path.join(proj, "services", "bb", "busybox"))
    tag = f"rbench{os.getpid()}"
    env = dict(os.environ, WEB_PORT=str(free_port()), NO_COLOR="1", DEVSTACK_NO_NVML="1")
    dev = [BIN, "-C", proj, "-p", tag]
    ctx = os.path.join(proj, "services", "app")
    dockerfile = Dockerfile(os.path.join(ctx, "Dockerfile"))
    try:
        sh("docker", "build", "-q", "-t", "devstack-test-bb:latest", os.path.join(proj, "services", "bb"))
        print("devstack watch (rebuild rule):", flush=True)
        dv, dv_ready = devstack_rounds(dev, env, dockerfile, args.edits, tag)
        subprocess.run(dev + ["down", "-t", "1"], env=env, capture_output=True)
        print("floor (docker build + run + ready by hand):", flush=True)
        fl = floor_rounds(ctx, dockerfile, args.edits, tag)
        print("docker-compose up -d --build app:", flush=True)
        dc = compose_rounds(os.path.join(proj, ".devstack", "compose.yaml"), f"{tag}c", dockerfile, args.edits)
        res = {
            "edits": args.edits,
            "devstack_median_s": round(statistics.median(dv), 2),
            "devstack_new_container_ready_median_s": round(statistics.median(dv_ready), 2),
            "floor_median_s": round(statistics.median(fl), 2),
            "compose_median_s": round(statistics.median(dc), 2),
        }
        res["ratio_to_floor"] = round(res["devstack_median_s"] / res["floor_median_s"], 2)
        res["compose_ratio_to_floor"] = round(res["compose_median_s"] / res["floor_median_s"], 2)
        res["target"] = 1.25
        print(json.dumps(res, indent=2))
    finally:
        subprocess.run(dev + ["down", "-v", "-t", "1", "--rmi", "local"], env=env, capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


if __name__ == "__main__":
    main()
