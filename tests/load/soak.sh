#!/bin/sh
# Soak: `tapline serve` (release) on loopback with the bench tenant and the
# generator `tapline-soak` (release) in its own process, for a given time:
# applicants create, upload, submit, list, view and download the ZIP (and
# log in again every tenth round); operators work the queue, set statuses
# and export CSV and XLSX. Prints every 10 seconds the throughput, p99 of
# the slow kinds and the server's resident memory and threads; at the end
# p50/p99 per kind, memory by ten minutes and the growth of the last half.
# The server's own memory line (allocator figures, cache sizes) goes to
# $work/server.log every minute; the last ones are printed at the end.
#
#   tests/load/soak.sh [seconds] [applicants] [operators]   (defaults: 3600 50 5)
#   DATABASE_URL=postgres://… tests/load/soak.sh           to soak PostgreSQL instead
#   KEEP=1 tests/load/soak.sh …                             keep the data folder and log
set -eu
cd "$(dirname "$0")/../.."
seconds=${1:-3600}
applicants=${2:-50}
operators=${3:-5}
cargo build --release --locked -q -p tapline -p tapline-e2e --bin tapline --bin tapline-soak
bin=${CARGO_TARGET_DIR:-target}/release
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
db=${DATABASE_URL:-sqlite://$work/tapline.db}
export TAPLINE_STAFF_PASSWORD="Soak-staff-pass-1"
i=0
while [ "$i" -lt "$operators" ]; do
  "$bin/tapline" staff add --tenants tests/load/tenants --data-dir "$work" --database-url "$db" \
    --tenant bench --email "op$i@soak.example" --name "Оператор $i" --role operator > /dev/null
  i=$((i + 1))
done
NO_COLOR=1 TAPLINE_LOG=warn,tapline::server::memory=info,tapline::store::writer=info "$bin/tapline" serve --listen "127.0.0.1:$port" --trust-proxy \
  --tenants tests/load/tenants --data-dir "$work" --database-url "$db" \
  > "$work/server.log" 2>&1 &
server=$!
cleanup() {
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  if [ -n "${KEEP:-}" ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$port/readyz" > /dev/null 2>&1 && break
  sleep 0.1
done
echo "tapline serve (pid $server) on 127.0.0.1:$port ($db), $(nproc) cores; $applicants applicants, $operators operators, ${seconds}s"
"$bin/tapline-soak" "http://127.0.0.1:$port" "$server" "$seconds" "$applicants" "$operators"
echo "server's memory lines (allocator, caches), the last five:"
grep ' memory ' "$work/server.log" | tail -5 || true
grep -E ' (WARN|ERROR) ' "$work/server.log" | tail -5 || true
if [ -f "$work/tapline.db-wal" ]; then
  echo "SQLite's WAL: $(stat -c %s "$work/tapline.db-wal") bytes at the end; started over $(grep -c 'WAL was started over' "$work/server.log") times, not $(grep -c 'WAL was not started over' "$work/server.log"); the last:"
  grep 'WAL was' "$work/server.log" | tail -3 || true
fi
