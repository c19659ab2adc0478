#!/usr/bin/env bash
# End-to-end comparison of rload and redis-cli --pipe, in the same run.
# Usage: benches/compare.sh [N] [--rounds R] [--workloads set,1k,100k,hset,rpush,rpushrr,hsetf,csv]
#                           [--progress] [--coalesce]
#                           [--ports PORT|FIRST-LAST] [--cluster M]
#        benches/compare.sh [N] --compare [--compare-workloads set,mixed]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --quiet
exec python3 benches/compare.py "$@"
