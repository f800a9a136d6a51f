#!/usr/bin/env bash
# The test command (README): formatting, lints, the Rust unit and integration tests against
# the real Docker engine, then the services' own test suites when present.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --locked
# The input generator (issue 25) at a larger count than in the plain test run, bounded in time.
DEVSTACK_FUZZ_CASES="${DEVSTACK_FUZZ_CASES:-5000}" DEVSTACK_FUZZ_SECS="${DEVSTACK_FUZZ_SECS:-300}" \
  cargo test --locked --test integration -- fuzz:: --nocapture
if [ -x scripts/test-services.sh ]; then
  bash scripts/test-services.sh
fi
