#!/usr/bin/env bash
# The test command (README): formatting, lints, the Rust unit and integration tests against
# the real Docker engine, then the services' own test suites when present.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --locked
# Timing measurements run alone, after the parallel suite (their tests say why).
cargo test --locked --test integration -- --ignored --test-threads=1
if [ -x scripts/test-services.sh ]; then
  bash scripts/test-services.sh
fi
