#!/bin/sh
# Recording benchmark (see recording.py): makes the Python venv and the release binary when
# missing, then records and replays against one loopback redis-server.
set -eu
cd "$(dirname "$0")/../.."
if [ ! -x bench/kinect/.venv/bin/python ]; then
    python3 -m venv bench/kinect/.venv
    bench/kinect/.venv/bin/pip install -q redis hiredis numpy pillow
fi
[ -x target/release/devstack ] || cargo build --release
exec bench/kinect/.venv/bin/python bench/kinect/recording.py "$@"
