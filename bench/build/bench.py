#!/usr/bin/env python3
"""Rebuild after a one-line requirements.txt change, and parallel builds (issue 23).

A Python image (the local base of base.sh: Debian bookworm, python3, pip) that pip-installs a
few real packages from PyPI. Each round first builds the current requirements (untimed, so
the layer caches are warm), then bumps one line (`attrs==X`, a requirement no earlier build
saw, so no layer cache can answer) and times the rebuild with:

- devstack, BuildKit, with a pip cache mount (`RUN --mount=type=cache,target=/root/.cache/pip`)
- devstack, BuildKit, the plain Dockerfile (`pip install --no-cache-dir`)
- devstack, the engine's classic builder (`DOCKER_BUILDKIT=0`), the plain Dockerfile
- docker-compose build (Debian's v1, classic builder), the plain Dockerfile

Then two independent images (the cache-mount Dockerfile, different packages), after a
one-line change in each: `devstack build` (both at once) against `devstack build a` then
`devstack build b`, alternating which goes first.

Usage: bench/build/bench.py [--rounds 3] [--devstack target/release/devstack]
Needs: Docker, docker-compose, debootstrap (bench/build/base.sh makes the base image once).
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

# Real packages, wheels on PyPI for CPython 3.11.
PACKAGES = ["numpy==1.26.4", "pandas==2.2.3", "pillow==10.4.0", "requests==2.32.3", "pyyaml==6.0.2"]
PACKAGES_B = ["scipy==1.14.1", "matplotlib==3.9.2", "requests==2.32.3"]
# The line that changes: each build gets a requirement no other build used (packages nothing
# else here depends on, so any version resolves).
BUMPS = [f"attrs=={v}" for v in [
    "17.2.0", "17.3.0", "17.4.0", "18.1.0", "18.2.0", "19.1.0", "19.2.0", "19.3.0", "20.1.0",
    "20.2.0", "20.3.0", "21.1.0", "21.2.0", "21.3.0", "21.4.0", "22.1.0", "22.2.0", "23.1.0",
    "23.2.0", "24.1.0", "24.2.0",
]] + [f"tomli=={v}" for v in [
    "1.0.0", "1.0.1", "1.0.2", "1.0.3", "1.0.4", "1.1.0", "1.2.0", "1.2.1", "1.2.2", "1.2.3",
    "2.0.0", "2.0.1", "2.1.0", "2.2.1",
]]

CACHED = """FROM {base}
COPY requirements.txt /tmp/requirements.txt
RUN --mount=type=cache,target=/root/.cache/pip pip install -r /tmp/requirements.txt
"""
PLAIN = """FROM {base}
COPY requirements.txt /tmp/requirements.txt
RUN pip install --no-cache-dir -r /tmp/requirements.txt
"""


def sh(*cmd, env=None, cwd=None):
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r.stdout


class Project:
    """A devstack project dir with one or two services, each its own context."""

    def __init__(self, name, base, dockerfiles):
        self.name = name
        self.dir = tempfile.mkdtemp(prefix=f"{name}-")
        os.makedirs(os.path.join(self.dir, "templates"))
        services = ""
        for svc, (dockerfile, packages) in dockerfiles.items():
            ctx = os.path.join(self.dir, svc)
            os.makedirs(ctx)
            with open(os.path.join(ctx, "Dockerfile"), "w") as f:
                f.write(dockerfile.format(base=base))
            self.write_requirements(svc, packages, None)
            services += f"  {svc}:\n    build: ./{svc}\n"
        with open(os.path.join(self.dir, "templates/compose.yaml.j2"), "w") as f:
            f.write("services:\n" + services)
        # docker-compose reads the same services from a plain compose file.
        with open(os.path.join(self.dir, "docker-compose.yml"), "w") as f:
            f.write("version: '3'\nservices:\n" + services)
        self.packages = {svc: p for svc, (_, p) in dockerfiles.items()}

    def write_requirements(self, svc, packages, bump):
        lines = list(packages) + ([bump] if bump else [])
        with open(os.path.join(self.dir, svc, "requirements.txt"), "w") as f:
            f.write("\n".join(lines) + "\n")

    def bump(self, svc, line):
        # The run's id as the line's comment: no build of an earlier run saw this line either.
        self.write_requirements(svc, self.packages[svc], f"{line}  # run {self.name}")

    def clean(self):
        ids = sh("docker", "images", "-q", "--filter", f"reference={self.name}-*",
                 "--filter", f"reference={self.name}_*").split()
        if ids:
            subprocess.run(["docker", "rmi", "-f", *set(ids)], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


def devstack_build(devstack, project, services=(), env_extra=None):
    env = dict(os.environ, NO_COLOR="1", DEVSTACK_NO_NVML="1", **(env_extra or {}))
    t = time.monotonic()
    sh(devstack, "-C", project.dir, "-p", project.name, "build", *services, env=env)
    return time.monotonic() - t


def compose_build(project):
    env = dict(os.environ, DOCKER_BUILDKIT="0", COMPOSE_DOCKER_CLI_BUILD="0")
    t = time.monotonic()
    sh("docker-compose", "-p", project.name, "build", cwd=project.dir, env=env)
    return time.monotonic() - t


def download(base):
    """What the network gives: `pip download` of the packages in a fresh container (no cache),
    its seconds and megabytes, so the cache mount's share of a rebuild can be read."""
    t = time.monotonic()
    out = sh("docker", "run", "--rm", base, "sh", "-c",
             "pip download -q -d /tmp/d " + " ".join(PACKAGES) + " && du -sm /tmp/d | cut -f1")
    return time.monotonic() - t, int(out.split()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    default = os.path.join(ROOT, "target/release/devstack")
    if not os.path.exists(default):
        default = os.path.join(ROOT, "target/debug/devstack")
    ap.add_argument("--devstack", default=default)
    args = ap.parse_args()
    base = sh("bash", os.path.join(HERE, "base.sh")).strip().splitlines()[-1]
    print(f"base image {base}; devstack {args.devstack}; {args.rounds} rounds", flush=True)
    dl_took, mb = download(base)
    print(f"network: pip download of the packages (no cache): {dl_took:.1f} s for {mb} MB", flush=True)
    bumps = iter(BUMPS)
    stamp = str(os.getpid())

    variants = {
        "devstack, BuildKit + pip cache mount": (CACHED, lambda p: devstack_build(args.devstack, p)),
        "devstack, BuildKit, plain Dockerfile": (PLAIN, lambda p: devstack_build(args.devstack, p)),
        "devstack, classic builder (DOCKER_BUILDKIT=0)": (
            PLAIN, lambda p: devstack_build(args.devstack, p, env_extra={"DOCKER_BUILDKIT": "0"})),
        "docker-compose build (v1, classic)": (PLAIN, compose_build),
    }
    results = {k: [] for k in variants}
    projects = {}
    try:
        for i, (label, (dockerfile, build)) in enumerate(variants.items()):
            p = Project(f"bb{stamp}v{i}", base, {"app": (dockerfile, PACKAGES)})
            projects[label] = p
            build(p)  # warm: base layers, COPY, and (for the cache mount) the wheels
        for r in range(args.rounds):
            for label, (_, build) in variants.items():
                p = projects[label]
                p.bump("app", next(bumps))
                took = build(p)
                results[label].append(took)
                print(f"round {r + 1}: {label}: {took:.1f} s", flush=True)
        two = Project(f"bb{stamp}par", base,
                      {"a": (CACHED, PACKAGES), "b": (CACHED, PACKAGES_B)})
        projects["two"] = two
        devstack_build(args.devstack, two)
        par, seq = [], []

        def parallel():
            return devstack_build(args.devstack, two)

        def sequential():
            return devstack_build(args.devstack, two, ["a"]) + devstack_build(args.devstack, two, ["b"])

        for r in range(args.rounds):
            order = [("parallel", parallel), ("one after the other", sequential)]
            if r % 2:
                order.reverse()
            for label, run in order:
                two.bump("a", next(bumps))
                two.bump("b", next(bumps))
                took = run()
                (par if label == "parallel" else seq).append(took)
                print(f"round {r + 1}: two images, {label}: {took:.1f} s", flush=True)
    finally:
        for p in projects.values():
            p.clean()

    print(f"\nnetwork: pip download of the packages (no cache): {dl_took:.1f} s for {mb} MB")
    print("\n| rebuild after a one-line requirements.txt change | median | rounds |")
    print("|---|---|---|")
    for label, times in results.items():
        print(f"| {label} | {statistics.median(times):.1f} s | {' / '.join(f'{t:.1f}' for t in times)} |")
    print("\n| two independent images, one-line change in each | median | rounds |")
    print("|---|---|---|")
    for label, times in [("`devstack build` (both at once)", par), ("`devstack build a` then `b`", seq)]:
        print(f"| {label} | {statistics.median(times):.1f} s | {' / '.join(f'{t:.1f}' for t in times)} |")


if __name__ == "__main__":
    main()
