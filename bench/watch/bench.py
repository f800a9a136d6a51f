#!/usr/bin/env python3
"""`devstack watch`, measured: edit → new content served through a sync rule.

The stack is the watch tests' fixture (tests/fixtures/watched): `site` is busybox httpd serving
/www from the test image, published on a loopback port, with
`develop.watch: [{action: sync, path: ./services/site/www, target: /www}]`. The script starts
`devstack up -d site` and `devstack watch site`, then N times: writes services/site/www/index.html
with a new token and polls http://127.0.0.1:PORT/index.html every 2 ms until the token is
served. The time from the write to the first response carrying it is one sample. It includes
devstack's debounce (150 ms of quiet after the last change, so a burst of saves is one action),
the tar upload through the engine's archive endpoint, and httpd reading the file.

Target: median <= 300 ms.

With --ssh, the engine is reached as a remote one: an sshd of the script's own on a loopback
port with a key made here, `DOCKER_HOST=ssh://root@127.0.0.1:PORT` and `DEVSTACK_REMOTE=1`, so
every request goes through devstack's ssh bridge (`ssh … docker system dial-stdio`); this
measures what ssh adds, not a network's latency.

Needs: a release build (target/release/devstack), Docker, /bin/busybox (busybox-static); with
--ssh, openssh-server and root (for sshd).
Usage: python3 bench/watch/bench.py [--edits N] [--ssh]
"""
import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.path.join(ROOT, "target", "release", "devstack")
FIXTURE = os.path.join(ROOT, "tests", "fixtures", "watched")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def fetch(url):
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            return r.read().decode()
    except Exception:
        return ""


def loopback_sshd(work):
    """An sshd on a loopback port letting in a key made here, and an `ssh` wrapper that uses
    it; returns (port, PATH with the wrapper first, the sshd process)."""
    d = os.path.join(work, "ssh")
    os.makedirs(os.path.join(d, "bin"))
    for key in ("client_key", "host_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", os.path.join(d, key)], check=True)
    shutil.copy(os.path.join(d, "client_key.pub"), os.path.join(d, "authorized_keys"))
    port = free_port()
    with open(os.path.join(d, "sshd_config"), "w") as f:
        f.write(f"Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\n"
                f"AuthorizedKeysFile {d}/authorized_keys\nPidFile {d}/sshd.pid\nStrictModes no\n"
                "PasswordAuthentication no\nUsePAM no\nPermitRootLogin prohibit-password\n")
    with open(os.path.join(d, "ssh_config"), "w") as f:
        f.write(f"Host *\n  IdentityFile {d}/client_key\n  IdentitiesOnly yes\n"
                f"  UserKnownHostsFile {d}/known_hosts\n  StrictHostKeyChecking accept-new\n")
    wrapper = os.path.join(d, "bin", "ssh")
    with open(wrapper, "w") as f:
        f.write(f"#!/bin/sh\nexec /usr/bin/ssh -F {d}/ssh_config \"$@\"\n")
    os.chmod(wrapper, 0o755)
    os.makedirs("/run/sshd", exist_ok=True)
    sshd = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", os.path.join(d, "sshd_config")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    return port, os.path.join(d, "bin") + ":" + os.environ.get("PATH", ""), sshd


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--edits", type=int, default=20)
    ap.add_argument("--ssh", action="store_true", help="reach the engine over ssh, as a remote one")
    args = ap.parse_args()
    if not os.path.exists(BIN):
        sys.exit("no release build: cargo build --release")
    busybox = next((p for p in ("/bin/busybox", "/usr/bin/busybox") if os.path.exists(p)), None)
    if busybox is None:
        sys.exit("static busybox is needed: apt-get install busybox-static")

    work = tempfile.mkdtemp(prefix="devstack-watch-bench-")
    proj = os.path.join(work, "p")
    shutil.copytree(FIXTURE, proj)
    shutil.copy(busybox, os.path.join(proj, "services", "bb", "busybox"))
    name = f"wbench{os.getpid()}"
    port = free_port()
    env = dict(os.environ, WEB_PORT=str(port), NO_COLOR="1", DEVSTACK_NO_NVML="1")
    dev = [BIN, "-C", proj, "-p", name]
    watch = None
    sshd = None
    if args.ssh:
        ssh_port, path, sshd = loopback_sshd(work)
        env.update(DOCKER_HOST=f"ssh://root@127.0.0.1:{ssh_port}", DEVSTACK_REMOTE="1", PATH=path)
    try:
        # The test image the fixture builds FROM (the same context as the tests: cached).
        subprocess.run(
            ["docker", "build", "-q", "-t", "devstack-test-bb:latest", os.path.join(proj, "services", "bb")],
            check=True, capture_output=True,
        )
        subprocess.run(dev + ["up", "-d", "site"], env=env, check=True, capture_output=True)
        watch = subprocess.Popen(dev + ["watch", "site"], env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True)
        lines = []
        ready = threading.Event()

        def read():
            for line in watch.stdout:
                lines.append(line.rstrip())
                if "watching:" in line:
                    ready.set()

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(30):
            sys.exit("devstack watch did not start:\n" + "\n".join(lines))
        index = os.path.join(proj, "services", "site", "www", "index.html")
        url = f"http://127.0.0.1:{port}/index.html"
        samples = []
        for i in range(args.edits):
            token = f"edit-{i}-{time.time_ns()}"
            t0 = time.perf_counter()
            with open(index, "w") as f:
                f.write(token + "\n")
            while token not in fetch(url):
                if time.perf_counter() - t0 > 10:
                    sys.exit(f"edit {i} not served within 10 s:\n" + "\n".join(lines))
                time.sleep(0.002)
            samples.append((time.perf_counter() - t0) * 1000)
            time.sleep(0.3)  # let the action finish before the next edit
        samples.sort()
        p95 = samples[max(0, int(round(0.95 * len(samples))) - 1)]
        print(f"edits: {len(samples)}{' (engine over ssh)' if args.ssh else ''}")
        print("edit -> served (ms): " + " ".join(f"{s:.0f}" for s in samples))
        print(f"median {statistics.median(samples):.0f} ms, p95 {p95:.0f} ms, "
              f"min {samples[0]:.0f} ms, max {samples[-1]:.0f} ms")
        synced = [l for l in lines if "synced" in l]
        print(f"devstack's own lines: {len(synced)} actions, e.g. {synced[-1] if synced else '-'}")
    finally:
        if watch is not None:
            watch.send_signal(signal.SIGINT)
            try:
                watch.wait(10)
            except subprocess.TimeoutExpired:
                watch.kill()
        subprocess.run(dev + ["down", "-v", "-t", "1"], env=env, capture_output=True)
        if sshd is not None:
            sshd.terminate()
            sshd.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
