#!/usr/bin/env bash
# Runs the services' own test suites: pose-service (pytest), backend-api (node:test against a
# real redis-server started here), frontend (vitest + production build), and live: the Live
# page in Debian's chromium (headless, driven by playwright-core) against redis-server,
# backend-api, the Vite dev server and devstack's synthetic capture.
# Needs: node 20 + npm, python3 with venv (or pip), redis-server; live also chromium
# (apt-get install chromium) and the devstack binary (built here with cargo, or DEVSTACK_BIN).
# MongoDB-backed backend tests run only when MONGO_URL points at a server (skipped otherwise).
# Usage: scripts/test-services.sh [pose|backend|frontend|live]...   (default: all four)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
services="$root/services"
want=("$@")
[ ${#want[@]} -eq 0 ] && want=(pose backend frontend live)

say() { printf '\n== %s\n' "$*"; }
need() { command -v "$1" >/dev/null || { echo "test-services: $1 is required ($2)" >&2; exit 2; }; }

redis_pid=""
redis_dir=""
cleanup() {
  if [ -n "$redis_pid" ]; then kill "$redis_pid" 2>/dev/null || true; wait "$redis_pid" 2>/dev/null || true; fi
  if [ -n "$redis_dir" ]; then rm -rf "$redis_dir"; fi
}
trap cleanup EXIT

# One redis-server on a free port for every suite that needs Redis.
start_redis() {
  [ -n "$redis_pid" ] && return
  need redis-server "apt-get install redis-server"
  redis_dir="$(mktemp -d)"
  local port
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$redis_dir" \
    >"$redis_dir/redis.log" 2>&1 &
  redis_pid=$!
  for _ in $(seq 100); do
    if python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null; then
      export REDIS_URL="redis://127.0.0.1:$port/0"
      echo "redis-server on port $port (pid $redis_pid)"
      return
    fi
    sleep 0.05
  done
  echo "test-services: redis-server did not start:" >&2
  cat "$redis_dir/redis.log" >&2
  exit 1
}

# npm ci only when package-lock.json changed since the last install.
npm_install() {
  local dir="$1"
  local stamp="$dir/node_modules/.package-lock.sha"
  local sum
  sum="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$sum" ]; then
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$sum" >"$stamp"
  fi
}

test_pose() {
  say "pose-service: pytest"
  local dir="$services/pose-service"
  local venv="$dir/.venv"
  if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv" 2>/dev/null || { rm -rf "$venv"; python3 -m pip install --user -q virtualenv && python3 -m virtualenv -q "$venv"; }
  fi
  local stamp="$venv/.requirements-test.sha"
  local sum
  sum="$(sha256sum "$dir/requirements-test.txt" | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$sum" ]; then
    "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$dir/requirements-test.txt"
    echo "$sum" >"$stamp"
  fi
  command -v ffmpeg >/dev/null || echo "note: ffmpeg is not installed; the video re-encoding test is skipped"
  (cd "$dir" && "$venv/bin/python" -m pytest -q)
  check_pose_lock "$dir" "$venv"
}

# The image's lock (requirements.lock) must be what requirements.txt resolves to: uv compiles
# requirements.txt again from PyPI, preferring the locked versions, for the image's platform
# (Python 3.10, manylinux x86_64); any difference (a requirement added, removed or narrowed
# past a pin; a pin PyPI no longer has) fails with the command that regenerates the lock.
check_pose_lock() {
  local dir="$1" venv="$2"
  say "pose-service: requirements.lock matches requirements.txt and resolves"
  local tmp
  tmp="$(mktemp -d)"
  cp "$dir/requirements.lock" "$tmp/requirements.lock"
  local compile=(pip compile requirements.txt --python-version 3.10
    --python-platform x86_64-manylinux_2_28 --generate-hashes --no-header --emit-index-url)
  if ! (cd "$dir" && UV_PYTHON_DOWNLOADS=never "$venv/bin/uv" "${compile[@]}" --python "$venv/bin/python" \
      -o "$tmp/requirements.lock" -q); then
    rm -rf "$tmp"
    echo "test-services: requirements.txt does not resolve for the image (see uv's message above)" >&2
    exit 1
  fi
  if ! diff -u "$dir/requirements.lock" "$tmp/requirements.lock"; then
    rm -rf "$tmp"
    echo "test-services: services/pose-service/requirements.lock does not match requirements.txt; regenerate it: (cd services/pose-service && uv ${compile[*]} -o requirements.lock)" >&2
    exit 1
  fi
  rm -rf "$tmp"
  echo "requirements.lock: $(grep -c '^[a-zA-Z]' "$dir/requirements.lock") packages, consistent"
}

test_backend() {
  say "backend-api: node:test"
  need npm "install Node.js 20"
  local dir="$services/backend-api"
  npm_install "$dir"
  [ -n "${MONGO_URL:-}" ] || echo "note: MONGO_URL is not set; MongoDB-backed tests are skipped"
  (cd "$dir" && npm run --silent typecheck && npm test)
}

test_frontend() {
  say "frontend: vitest + production build"
  need npm "install Node.js 20"
  local dir="$services/frontend"
  npm_install "$dir"
  (cd "$dir" && npm test && npm run build)
}

test_live() {
  say "live: the Live page in chromium against the real chain"
  need npm "install Node.js 20"
  export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
  [ -x "$CHROMIUM" ] || { echo "test-services: $CHROMIUM is required for the live suite (apt-get install chromium)" >&2; exit 2; }
  if [ -z "${DEVSTACK_BIN:-}" ]; then
    need cargo "install Rust (https://rustup.rs), or set DEVSTACK_BIN to a built devstack"
    (cd "$root" && cargo build --locked --quiet --bin devstack)
    export DEVSTACK_BIN="$root/target/debug/devstack"
  fi
  npm_install "$services/backend-api"
  npm_install "$services/frontend"
  (cd "$services/frontend" && npm run test:live)
}

for w in "${want[@]}"; do
  case "$w" in
    pose) start_redis; test_pose ;;
    backend) start_redis; test_backend ;;
    frontend) test_frontend ;;
    live) start_redis; test_live ;;
    *) echo "test-services: unknown suite $w (pose, backend, frontend, live)" >&2; exit 2 ;;
  esac
done
say "all service tests passed"
