#!/usr/bin/env bash
# Supervisor benchmarks (issue 5): resident memory of the background supervisor with 5 services
# and 1 host process, and auto-heal time from "unhealthy" to "healthy again".
# Usage: bench/supervisor/run.sh [ROUNDS]   (needs a release build: cargo build --release)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
bin="$root/target/release/devstack"
rounds="${1:-3}"
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 2; }

work="$(mktemp -d)"
name="benchsup$$"
cleanup() { "$bin" -C "$work" -p "$name" down --volumes >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
cp -r "$root/tests/fixtures/stack5/." "$work/"
cp /bin/busybox "$work/services/bb/busybox"
# The fixture's own x-devstack block is replaced by the benchmark's (host process + auto-heal).
sed '/^x-devstack:/,$d' "$root/tests/fixtures/stack5/templates/compose.yaml.j2" >"$work/templates/fixture.yaml.j2"
cp "$root/bench/supervisor/compose.yaml.j2" "$work/templates/compose.yaml.j2"
export WEB_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"

"$bin" -C "$work" -p "$name" up -d >/dev/null 2>&1
sleep 20  # steady state: host process running, auto-heal and log copies active
pid="$(cat "$work/.devstack/supervisor.pid")"
rss="$(awk '/VmRSS/{print $2}' /proc/"$pid"/status)"
hwm="$(awk '/VmHWM/{print $2}' /proc/"$pid"/status)"
echo "supervisor pid $pid: VmRSS ${rss} kB, peak (VmHWM) ${hwm} kB"

health() { docker inspect --format '{{.State.Health.Status}}' "$name-api-1"; }
times=()
for i in $(seq "$rounds"); do
  until [ "$(health)" = healthy ]; do sleep 0.1; done
  docker exec "$name-api-1" rm /tmp/ready
  until [ "$(health)" = unhealthy ]; do sleep 0.05; done
  t0="$(date +%s.%N)"
  until [ "$(health)" = healthy ]; do sleep 0.05; done
  t1="$(date +%s.%N)"
  dt="$(python3 -c "print(f'{$t1-$t0:.2f}')")"
  echo "round $i: unhealthy -> healthy again in ${dt}s"
  times+=("$dt")
done
median="$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}')"
hwm="$(awk '/VmHWM/{print $2}' /proc/"$pid"/status)"
echo "median unhealthy -> healthy again: ${median}s over $rounds rounds; supervisor peak RSS after healing: ${hwm} kB"
