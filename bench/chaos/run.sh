#!/usr/bin/env bash
# The chaos soak (issue 25): a stack with the synthetic camera feeding a consumer through Redis,
# a database on a named volume and a service that numbers its log lines, on a private dockerd
# (the machine's engine is untouched); for MINUTES it injects faults at random (docker kill, a
# container's process killed, SIGKILL of the capture, SIGKILL of the supervisor, an engine
# restart, a container turned unhealthy) and checks after each that the stack is all-healthy
# again with frames flowing, one supervisor and one capture, no orphans, the database intact and
# every numbered log line in `devstack logs` once. The harness is tests/it/chaos.rs.
#
# Usage: bench/chaos/run.sh [MINUTES]   (default 10; runs as root: the private engine needs it)
#   PROFILE=debug|release (default release), CHAOS_SEED=N to repeat an order of faults.
# Writes bench/chaos/results/<UTC time>.json and prints the summary.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
minutes="${1:-10}"
profile="${PROFILE:-release}"
flag=()
[ "$profile" = release ] && flag=(--release)
mkdir -p "$root/bench/chaos/results"
out="$root/bench/chaos/results/$(date -u +%Y%m%dT%H%M%SZ)-${minutes}min.json"
cd "$root"
CHAOS_MINUTES="$minutes" CHAOS_OUT="$out" \
  cargo test --locked "${flag[@]}" --test integration -- --ignored --exact chaos::chaos_soak --nocapture
python3 - "$out" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
def t(x): return f"{x['p50_s']:.1f} / {x['p95_s']:.1f} / {x['max_s']:.1f}" if x['n'] else "-"
print(f"\n{s['faults_injected']} faults in {s['minutes']} min (seed {s['seed']}), {s['recovered']} recovered; "
      f"time to recover p50/p95/max {t(s['ttr'])} s")
print("| fault | recovered by | injected | recovered | time to recover p50 / p95 / max (s) |")
print("|---|---|---|---|---|")
for k in s['by_kind']:
    print(f"| {k['fault']} | {k['recovery']} | {k['injected']} | {k['recovered']} | {t(k['ttr'])} |")
print(f"lost: {s['log_lines_lost']} of {s['log_lines_checked']} numbered log lines, "
      f"{s['log_lines_doubled']} doubled, {s['db_keys_lost']} database keys; "
      f"frames dropped while Redis was away: {s['frames_dropped']}; problems: {len(s['problems'])}")
print(f"results: {sys.argv[1]}")
PY
