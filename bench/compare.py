#!/usr/bin/env python3
"""devstack vs Debian's docker-compose on the same stack, in one run (issue 8).

The stack is tests/fixtures/stack5 rendered by devstack: db -> migrate (init job) -> api -> web
-> worker, a 3-level service_healthy chain whose services become ready after known delays, with
healthchecks at a realistic `interval: 5s`. docker-compose runs the very file devstack rendered
(.devstack/compose.yaml). Rounds alternate A/B; medians and ratios are reported.

Usage: bench/compare.py [--rounds N] [--delay SECS] [--log-lines N]
Needs: a release build (cargo build --release), docker, docker-compose, /bin/busybox (static).
"""
import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "devstack")
SERVICES = ["db", "migrate", "api", "web", "worker"]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def run(cmd, env=None, check=True, quiet=True):
    out = subprocess.run(cmd, env=env, stdout=subprocess.PIPE if quiet else None,
                         stderr=subprocess.STDOUT if quiet else None, text=True)
    if check and out.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{out.stdout}")
    return out


def timed(cmd, env=None):
    """Wall seconds and peak RSS (kB) of one command, via /usr/bin/time."""
    t0 = time.perf_counter()
    out = subprocess.run(["/usr/bin/time", "-f", "%M"] + cmd, env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    dt = time.perf_counter() - t0
    if out.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{out.stderr}")
    rss = int(out.stderr.strip().splitlines()[-1])
    return dt, rss


def inspect(names):
    out = run(["docker", "inspect", "--format",
               "{{.Id}} {{.State.Status}} {{if index .State \"Health\"}}{{.State.Health.Status}}{{else}}-{{end}} {{.State.ExitCode}}"]
              + names, check=False)
    state = {}
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) == 4:
            state[parts[0]] = parts[1:]
    return state


def containers(project):
    """service -> container id, by Compose's labels (devstack names `p-s-1`, compose 1.29 `p_s_1`)."""
    out = run(["docker", "ps", "-a", "--filter", f"label=com.docker.compose.project={project}",
               "--format", '{{.Label "com.docker.compose.service"}} {{.ID}}'], check=False)
    return dict(line.split() for line in out.stdout.splitlines() if len(line.split()) == 2)


def all_ready(project):
    ids = containers(project)
    if set(ids) != set(SERVICES):
        return False
    st = inspect(list(ids.values()))
    by_service = {svc: next((v for k, v in st.items() if k.startswith(cid)), None) for svc, cid in ids.items()}
    if any(v is None for v in by_service.values()):
        return False
    for svc, (status, health, code) in by_service.items():
        if svc == "migrate":
            if not (status == "exited" and code == "0"):
                return False
        elif health != "healthy":
            return False
    return True


def healthy(project, service):
    cid = containers(project).get(service)
    return cid is not None and any(v[1] == "healthy" for v in inspect([cid]).values())


def wait(pred, limit=120, what="the stack"):
    t0 = time.perf_counter()
    while not pred():
        if time.perf_counter() - t0 > limit:
            sys.exit(f"timed out waiting for {what}: {run(['docker', 'ps', '-a', '--format', '{{.Names}} {{.Status}} {{.Labels}}'], check=False).stdout}")
        time.sleep(0.05)


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--delay", type=float, default=2.0, help="each chained service's ready delay (s)")
    ap.add_argument("--log-lines", type=int, default=200_000)
    ap.add_argument("--only-logs", action="store_true", help="just the logs throughput part")
    a = ap.parse_args()
    if not os.access(BIN, os.X_OK):
        sys.exit("build first: cargo build --release")

    work = tempfile.mkdtemp(prefix="devstack-bench-")
    shutil.copytree(os.path.join(ROOT, "tests", "fixtures", "stack5"), work, dirs_exist_ok=True)
    shutil.copy("/bin/busybox", os.path.join(work, "services", "bb", "busybox"))
    env = dict(os.environ, NO_COLOR="1", DEVSTACK_NO_NVML="1", WEB_PORT=str(free_port()),
               HC_INTERVAL="5s", DB_DELAY=str(a.delay), API_DELAY=str(a.delay), WEB_DELAY=str(a.delay))
    ds_proj, dc_proj = "benchds", "benchdc"
    ds = [BIN, "-C", work, "-p", ds_proj]
    compose_file = os.path.join(work, ".devstack", "compose.yaml")
    dc = ["docker-compose", "-p", dc_proj, "-f", compose_file]
    cleanup = lambda: (run(ds + ["down", "--volumes", "--timeout", "1"], env, check=False),
                       run(dc + ["down", "--volumes", "--timeout", "1"], env, check=False))
    try:
        run(ds + ["build"], env)
        run(ds + ["render", "-o", os.path.join(work, "rendered.yaml")], env)
        res = {k: [] for k in ["ds_up", "dc_up", "ds_up_engine", "ds_restart", "dc_restart", "ds_noop", "dc_noop",
                               "ds_ps", "dc_ps", "ds_logs", "dl_logs", "dc_logs", "start", "restart_call"]}
        rss = {k: [] for k in ["up", "restart", "noop", "ps", "logs"]}
        for r in range(0 if a.only_logs else a.rounds):
            for tool in (["ds", "dc"] if r % 2 == 0 else ["dc", "ds"]):
                cleanup()
                if tool == "ds":
                    t0 = time.perf_counter()
                    dt, m = timed(ds + ["up", "-d"], env)
                    res["ds_up"].append(dt)
                    rss["up"].append(m)
                    wait(lambda: all_ready(ds_proj))
                    res["ds_up_engine"].append(time.perf_counter() - t0)
                    dt, m = timed(ds + ["restart", "web"], env)
                    res["ds_restart"].append(dt)
                    rss["restart"].append(m)
                    wait(lambda: all_ready(ds_proj))
                    dt, m = timed(ds + ["up", "-d"], env)
                    res["ds_noop"].append(dt)
                    rss["noop"].append(m)
                    # The restart floor's own step: the engine's restart of web (stop, then
                    # start), by hand on its API, as both tools must do it.
                    web = containers(ds_proj)["web"]
                    t0 = time.perf_counter()
                    run(["curl", "-sf", "-X", "POST", "--unix-socket", "/var/run/docker.sock",
                         f"http://engine/containers/{web}/restart?t=10"])
                    res["restart_call"].append(time.perf_counter() - t0)
                    wait(lambda: all_ready(ds_proj))
                else:
                    t0 = time.perf_counter()
                    run(dc + ["up", "-d"], env)
                    wait(lambda: all_ready(dc_proj))
                    res["dc_up"].append(time.perf_counter() - t0)
                    t0 = time.perf_counter()
                    run(dc + ["restart", "web"], env)
                    wait(lambda: healthy(dc_proj, "web"))
                    res["dc_restart"].append(time.perf_counter() - t0)
                    t0 = time.perf_counter()
                    run(dc + ["up", "-d"], env)
                    res["dc_noop"].append(time.perf_counter() - t0)
        # ps latency on a running stack (one at a time: they publish the same port).
        cleanup()
        if a.only_logs:
            a.ps_reps = 0
        else:
            a.ps_reps = 20
        if a.ps_reps:
            run(ds + ["up", "-d"], env)
            wait(lambda: all_ready(ds_proj))
        for i in range(a.ps_reps):
            dt, m = timed(ds + ["ps"], env)
            res["ds_ps"].append(dt)
            rss["ps"].append(m)
        cleanup()
        if a.ps_reps:
            run(dc + ["up", "-d"], env)
            wait(lambda: all_ready(dc_proj))
        for i in range(a.ps_reps):
            t0 = time.perf_counter()
            run(dc + ["ps"], env)
            res["dc_ps"].append(time.perf_counter() - t0)
        # Container start time (for the floor): docker start of a created, no-delay container.
        for i in range(5):
            cid = run(["docker", "create", "devstack-test-bb:latest", "true"]).stdout.strip()
            t0 = time.perf_counter()
            run(["docker", "start", cid])
            res["start"].append(time.perf_counter() - t0)
            run(["docker", "rm", "-f", cid])
        cleanup()

        # logs throughput: one service that wrote N lines.
        logs_tpl = (
            "services:\n  chatty:\n    image: devstack-test-bb:latest\n    build: ./services/bb\n    init: true\n"
            f"    command: [\"sh\", \"-c\", \"seq 1 {a.log_lines} | sed 's/^/log line number /'; exec sleep 100000\"]\n"
        )
        logs_dir = tempfile.mkdtemp(prefix="devstack-bench-logs-")
        shutil.copytree(os.path.join(work, "services"), os.path.join(logs_dir, "services"))
        os.makedirs(os.path.join(logs_dir, "templates"))
        with open(os.path.join(logs_dir, "templates", "compose.yaml.j2"), "w") as f:
            f.write(logs_tpl)
        lds = [BIN, "-C", logs_dir, "-p", "benchlogs"]
        run(lds + ["up", "-d"], env)
        cont = containers("benchlogs")["chatty"]
        wait(lambda: run(["docker", "logs", "--tail", "1", cont]).stdout.strip().endswith(str(a.log_lines)))
        # Steady state: the supervisor's own copy of the log has caught up (it runs beside us).
        copy = os.path.join(logs_dir, ".devstack", "logs", "chatty.log")
        def copied():
            n = 0
            for p in (copy + ".1", copy):  # the copy rotates at 10 MB
                try:
                    with open(p, "rb") as f:
                        n += sum(1 for _ in f)
                except OSError:
                    pass
            return n >= a.log_lines
        wait(copied, what="the supervisor's log copy")
        ldc = ["docker-compose", "-p", "benchlogs", "-f", os.path.join(logs_dir, ".devstack", "compose.yaml")]
        for r in range(5):
            dt, m = timed(lds + ["logs", "chatty"], env)
            res["ds_logs"].append(dt)
            rss["logs"].append(m)
            res["dl_logs"].append(timed(["docker", "logs", cont], env)[0])
            res["dc_logs"].append(timed(ldc + ["logs", "--no-color", "chatty"], env)[0])
        run(lds + ["down", "--volumes", "--timeout", "1"], env, check=False)
        shutil.rmtree(logs_dir, ignore_errors=True)
    finally:
        cleanup()
        shutil.rmtree(work, ignore_errors=True)

    m = {k: median(v) for k, v in res.items()}
    floor = 3 * a.delay + 5 * m["start"]
    rfloor_start_only = a.delay + m["start"]
    report = {
        "rounds": a.rounds, "delay_s": a.delay, "healthcheck_interval": "5s", "log_lines": a.log_lines,
        "medians_s": m, "floor_s": floor, "peak_rss_kb": {k: max(v) for k, v in rss.items() if v},
        "raw": res,
    }
    print(json.dumps(report, indent=2))
    print()
    print(f"cold up to all healthy: devstack {m['ds_up']:.2f} s (engine says healthy at {m['ds_up_engine']:.2f} s), "
          f"docker-compose {m['dc_up']:.2f} s, ratio {m['ds_up'] / m['dc_up']:.2f}; floor {floor:.2f} s, "
          f"devstack/floor {m['ds_up'] / floor:.2f}")
    # Restarting web means stopping it and starting it again (the engine's restart call, timed
    # by hand), then its ready delay.
    rfloor = a.delay + m["restart_call"]
    print(f"restart web (middle of the chain) to healthy: devstack {m['ds_restart']:.2f} s, docker-compose {m['dc_restart']:.2f} s; "
          f"floor {rfloor:.2f} s (restart call {m['restart_call']:.2f} s + ready delay), devstack/floor {m['ds_restart'] / rfloor:.2f} "
          f"(against the start-only floor {rfloor_start_only:.2f} s: {m['ds_restart'] / rfloor_start_only:.2f})")
    print(f"no-change up: devstack {m['ds_noop'] * 1000:.0f} ms, docker-compose {m['dc_noop'] * 1000:.0f} ms")
    print(f"ps: devstack {m['ds_ps'] * 1000:.0f} ms, docker-compose {m['dc_ps'] * 1000:.0f} ms (median of 20)")
    print(f"logs of {a.log_lines} lines: devstack {m['ds_logs']:.2f} s, docker logs {m['dl_logs']:.2f} s, "
          f"docker-compose {m['dc_logs']:.2f} s; devstack throughput = {m['dl_logs'] / m['ds_logs']:.2f} x docker logs")
    print("devstack peak RSS (MB): " + ", ".join(f"{k} {max(v) / 1024:.1f}" for k, v in rss.items() if v))


if __name__ == "__main__":
    main()
