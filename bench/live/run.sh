#!/bin/sh
# Live view benchmark (see bench.ts): installs the services' npm packages and builds the release
# binary when missing, then runs the chain (redis-server, synthetic capture, backend-api, Vite,
# chromium) once. Needs chromium (apt-get install chromium) and redis-server.
# Usage: bench/live/run.sh [--quick]
set -eu
cd "$(dirname "$0")/../.."
[ -d services/backend-api/node_modules ] || (cd services/backend-api && npm ci --no-audit --no-fund --loglevel=error)
[ -d services/frontend/node_modules ] || (cd services/frontend && npm ci --no-audit --no-fund --loglevel=error)
[ -x target/release/devstack ] || cargo build --release --locked
export DEVSTACK_BIN="${DEVSTACK_BIN:-$PWD/target/release/devstack}"
cd services/frontend
exec node_modules/.bin/vite-node ../../bench/live/bench.ts -- "$@"
