#!/bin/sh
# Kinect publishing benchmark (see bench.py): makes the Python venv and the release binary when
# missing, then runs both publishers against one loopback redis-server.
set -eu
cd "$(dirname "$0")/../.."
if [ ! -x bench/kinect/.venv/bin/python ]; then
    python3 -m venv bench/kinect/.venv
    bench/kinect/.venv/bin/pip install -q redis hiredis numpy pillow
fi
[ -x target/release/devstack ] || cargo build --release
exec bench/kinect/.venv/bin/python bench/kinect/bench.py "$@"
