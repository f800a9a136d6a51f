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
# The chaos soak (issue 25), short: faults on a private engine for CHAOS_MINUTES (default 2);
# bench/chaos/run.sh runs the long one for BENCHMARKS.md.
CHAOS_MINUTES="${CHAOS_MINUTES:-2}" \
  cargo test --locked --test integration -- --ignored --exact chaos::chaos_soak --nocapture
# Timing measurements run alone, after the parallel suite (their tests say why).
cargo test --locked --test integration -- --ignored --test-threads=1 recordings::
if [ -x scripts/test-services.sh ]; then
  bash scripts/test-services.sh
fi
