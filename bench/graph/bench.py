#!/usr/bin/env python3
"""One graph, measured: cold `devstack up -d` of the camera stack until the consumer is healthy,
against its floor.

The stack (the same as tests/it/graph.rs): redis (container, healthcheck `redis-cli ping`) ←
camera (host process: `devstack kinect capture --source synthetic`, depends on redis healthy) ;
consumer (container, healthy only while frames arrive at >= 25 fps, depends on redis healthy).
Before issue 14 this stack deadlocked: host processes started only after every container was
healthy, and the consumer is never healthy without the camera.

Floor, measured with plain docker and processes on the same machine, one step after the other:
  redis ready     `docker run` of the redis container until `redis-cli ping` answers PONG
  capture start   spawning the capture until Redis has seen its first XADD
  consumer ready  `docker run` of the consumer (frames already flowing) until its healthcheck passes
devstack's cold up must be <= 1.25x their sum.

Needs: a release build (target/release/devstack), the test Redis image (built by
`cargo test --test integration images::`), redis-cli on the host.
Usage: python3 bench/graph/bench.py [--rounds N]
"""
import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.path.join(ROOT, "target", "release", "devstack")


def sh(*args, check=True, **kw):
    return subprocess.run(args, check=check, capture_output=True, text=True, **kw)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def consumer_script():
    src = open(os.path.join(ROOT, "tests", "it", "images.rs")).read()
    sh_text = re.search(r'pub const CONSUMER_SH: &str = r#"(.*?)"#;', src, re.S).group(1)
    healthy = re.search(r'pub const CONSUMER_HEALTHY: &str = r#"(.*?)"#;', src, re.S).group(1)
    return sh_text, healthy


def redis_image():
    out = sh("docker", "images", "devstack-test-redis", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    if not out:
        sys.exit("no devstack-test-redis image: run `cargo test --test integration images::` first")
    return out[0]


def until(pred, limit=60.0, every=0.01):
    start = time.monotonic()
    while time.monotonic() - start < limit:
        if pred():
            return time.monotonic() - start
        time.sleep(every)
    raise RuntimeError("timed out")


def xadds(port):
    r = sh("redis-cli", "-p", str(port), "info", "commandstats", check=False).stdout
    m = re.search(r"cmdstat_xadd:calls=(\d+)", r)
    return int(m.group(1)) if m else 0


def floor_once(image, consumer_sh, healthy):
    port = free_port()
    tag = f"dsbench{os.getpid()}"
    net = f"{tag}_net"
    work = tempfile.mkdtemp()
    sh("docker", "network", "create", net)
    cap = None
    try:
        t0 = time.monotonic()
        sh("docker", "run", "-d", "--name", f"{tag}-redis", "--network", net, "--network-alias", "redis",
           "-p", f"127.0.0.1:{port}:6379", image,
           "redis-server", "--save", "", "--appendonly", "no", "--protected-mode", "no")
        until(lambda: sh("redis-cli", "-p", str(port), "ping", check=False).stdout.strip() == "PONG")
        redis_ready = time.monotonic() - t0

        t1 = time.monotonic()
        cap = subprocess.Popen([BIN, "kinect", "capture", "--source", "synthetic",
                                "--redis", f"redis://127.0.0.1:{port}",
                                "--health-file", os.path.join(work, "h.json")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        until(lambda: xadds(port) > 0)
        capture_start = time.monotonic() - t1

        with open(os.path.join(work, "consumer.sh"), "w") as f:
            f.write(consumer_sh)
        t2 = time.monotonic()
        sh("docker", "run", "-d", "--name", f"{tag}-consumer", "--network", net,
           "-e", "REDIS_HOST=redis", "-v", f"{work}/consumer.sh:/consumer.sh:ro", image, "sh", "/consumer.sh")
        until(lambda: sh("docker", "exec", f"{tag}-consumer", "sh", "-c", healthy, check=False).returncode == 0,
              every=0.1)
        consumer_ready = time.monotonic() - t2
        return redis_ready, capture_start, consumer_ready
    finally:
        if cap:
            cap.terminate()
            cap.wait()
        sh("docker", "rm", "-f", f"{tag}-redis", f"{tag}-consumer", check=False)
        sh("docker", "network", "rm", net, check=False)
        shutil.rmtree(work, ignore_errors=True)


TEMPLATE = """services:
  redis:
    image: {image}
    init: true
    stop_grace_period: 2s
    command: ["redis-server", "--save", "", "--appendonly", "no", "--protected-mode", "no"]
    ports: ["127.0.0.1:{port}:6379"]
    healthcheck: {{ test: ["CMD", "redis-cli", "ping"], interval: 1s, timeout: 1s, retries: 30 }}
  consumer:
    image: {image}
    init: true
    stop_grace_period: 1s
    command: ["sh", "/consumer.sh"]
    volumes: ["./consumer.sh:/consumer.sh:ro"]
    environment: {{ REDIS_HOST: redis }}
    depends_on: {{ redis: {{ condition: service_healthy }} }}
    healthcheck: {{ test: ["CMD-SHELL", {healthy}], interval: 1s, timeout: 1s, retries: 120 }}
x-devstack:
  autoheal: {{ enabled: false }}
  host:
    camera:
      command: ["{bin}", "kinect", "capture", "--source", "synthetic", "--redis", "redis://127.0.0.1:{port}", "--health-file", ".devstack/camera-health.json"]
      depends_on: {{ redis: {{ condition: service_healthy, restart: true }} }}
      restart: on-failure
      healthcheck: {{ test: ["CMD-SHELL", "grep -q '\\"state\\": \\"running\\"' .devstack/camera-health.json"], interval: 1s }}
"""


def devstack_once(image, consumer_sh, healthy):
    d = tempfile.mkdtemp()
    name = f"dsbenchg{os.getpid()}"
    try:
        os.makedirs(os.path.join(d, "templates"))
        with open(os.path.join(d, "consumer.sh"), "w") as f:
            f.write(consumer_sh)
        with open(os.path.join(d, "templates", "compose.yaml.j2"), "w") as f:
            f.write(TEMPLATE.format(image=image, port=free_port(), bin=BIN,
                                    healthy=json.dumps(healthy.replace("$", "$$"))))
        env = dict(os.environ, NO_COLOR="1", DEVSTACK_NO_NVML="1")
        t0 = time.monotonic()
        r = subprocess.run([BIN, "-C", d, "-p", name, "up", "-d", "--wait-timeout", "120"],
                           env=env, capture_output=True, text=True)
        took = time.monotonic() - t0
        if r.returncode != 0:
            raise RuntimeError(r.stderr)
        fps = sh("docker", "exec", f"{name}-consumer-1", "cat", "/tmp/fps").stdout.strip()
        return took, int(fps)
    finally:
        subprocess.run([BIN, "-C", d, "-p", name, "down", "-t", "1"], capture_output=True)
        shutil.rmtree(d, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    image = redis_image()
    consumer_sh, healthy = consumer_script()
    floors, ups = [], []
    for i in range(a.rounds):
        f = floor_once(image, consumer_sh, healthy)
        u, fps = devstack_once(image, consumer_sh, healthy)
        floors.append(f)
        ups.append(u)
        print(f"round {i + 1}: floor {sum(f):.2f}s (redis {f[0]:.2f} + capture {f[1]:.2f} + consumer {f[2]:.2f}), "
              f"devstack up -d {u:.2f}s, consumer at {fps} fps", flush=True)
    floor = statistics.median(sum(f) for f in floors)
    up = statistics.median(ups)
    parts = [statistics.median(f[i] for f in floors) for i in range(3)]
    print(json.dumps({
        "floor_s": round(floor, 2), "floor_parts_s": [round(p, 2) for p in parts],
        "devstack_up_s": round(up, 2), "ratio": round(up / floor, 2), "target": 1.25,
        "rounds": a.rounds,
    }))


if __name__ == "__main__":
    main()
