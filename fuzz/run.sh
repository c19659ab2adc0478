#!/usr/bin/env bash
# Runs each fuzz target for a number of executions (default 10,000,000),
# starting from the committed seeds. Needs a nightly toolchain and
# cargo-fuzz (cargo install cargo-fuzz).
# Usage: fuzz/run.sh [RUNS] [TARGET...]
# SANITIZER=address (the default) finds memory errors in unsafe code;
# SANITIZER=none runs several times faster.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-10000000}
shift || true
targets=("${@:-inline input replies coalesce records}")
for target in ${targets[@]}; do
  mkdir -p "fuzz/corpus/$target"
  cargo +nightly fuzz run -s "${SANITIZER:-address}" "$target" "fuzz/corpus/$target" "fuzz/seeds/$target" -- \
    -runs="$runs" -max_len=4096 -print_final_stats=1
done
