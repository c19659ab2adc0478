#!/usr/bin/env bash
# The server's work per input command, counted exactly: redis-server runs
# under callgrind while redis-cli --pipe loads RESP, then while rload
# --coalesce loads the same commands as text. Instructions of starting and
# stopping the server (an empty run) are subtracted.
# Usage: benches/server_instructions.sh [N] (default 200000; needs valgrind)
# WORKLOADS="set rpush rpushrr hsetf" picks the workloads.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-200000}
cargo build --release --locked --quiet
RLOAD=$PWD/target/release/rload
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

gen() {
  python3 - "$1" "$N" <<'PY'
import sys
w, n = sys.argv[1], int(sys.argv[2])
out = sys.stdout.write
for i in range(n):
    if w == "set": out(f"SET Key{i} Value{i}\n")
    elif w == "rpush": out(f"RPUSH list:{(i // 1000) % 4} {i}\n")
    elif w == "rpushrr": out(f"RPUSH list:{i % 4} {i}\n")
    elif w == "hsetf": out(f"HSET user:{i // 10} field{i % 10} value{i}\n")
PY
}

to_resp() {
  python3 -c '
import sys
for line in sys.stdin.buffer:
    a = line.split()
    sys.stdout.buffer.write(b"*%d\r\n" % len(a) + b"".join(b"$%d\r\n%s\r\n" % (len(x), x) for x in a))'
}

# Instructions the server ran while "$@" did its work.
instructions() {
  valgrind --tool=callgrind --callgrind-out-file="$TMP/cg.out" \
    redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no >/dev/null 2>&1 &
  local pid=$!
  until redis-cli -p "$PORT" PING >/dev/null 2>&1; do sleep 0.2; done
  "$@" >/dev/null
  redis-cli -p "$PORT" SHUTDOWN NOSAVE >/dev/null 2>&1 || true
  wait "$pid" || true
  awk '/^(summary|totals):/ { print $2; exit }' "$TMP/cg.out"
}

base=$(instructions true)
for w in ${WORKLOADS:-set rpush rpushrr hsetf}; do
  gen "$w" > "$TMP/in.txt"
  to_resp < "$TMP/in.txt" > "$TMP/in.resp"
  cli=$(instructions sh -c "redis-cli -p $PORT --pipe < $TMP/in.resp")
  merged=$(instructions sh -c "$RLOAD --pipe -p $PORT --coalesce < $TMP/in.txt")
  python3 -c "
b, c, m, n = $base, $cli, $merged, $N
print(f'$w: server instructions per command: redis-cli {(c - b) / n:.0f}, rload --coalesce {(m - b) / n:.0f}: {(c - b) / (m - b):.2f}x fewer')"
done
