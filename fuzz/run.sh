#!/usr/bin/env bash
# Runs each fuzz target for a number of executions (default 10,000,000),
# starting from the committed seeds. Needs a nightly toolchain and
# cargo-fuzz (cargo install cargo-fuzz).
# Usage: fuzz/run.sh [RUNS] [TARGET...]
# SANITIZER=address (the default) finds memory errors in unsafe code;
# SANITIZER=none runs several times faster. The rdb target's seeds are the
# RDB fixtures (tests/fixtures/rdb), so its inputs may be up to 32 KiB.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-10000000}
shift || true
targets=("${@:-inline input replies coalesce rdb records}")
for target in ${targets[@]}; do
  mkdir -p "fuzz/corpus/$target"
  cargo +nightly fuzz run -s "${SANITIZER:-address}" "$target" "fuzz/corpus/$target" "fuzz/seeds/$target" -- \
    -runs="$runs" -max_len="$([ "$target" = rdb ] && echo 32768 || echo 4096)" -print_final_stats=1
done
