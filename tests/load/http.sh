#!/bin/sh
# HTTP load: `tapline serve` (release) on loopback with the bench tenant
# (tests/load/tenants/bench, a 20-field form) and the generator
# `tapline-load` (release) in its own process. Prints, from one run, the
# hello-world ceiling (GET /healthz) and 20-field submissions: throughput,
# p50 and p99 at 32 concurrent clients.
#
#   tests/load/http.sh [clients] [seconds]          (defaults: 32 20)
#   DATABASE_URL=postgres://… tests/load/http.sh    to load PostgreSQL instead
set -eu
cd "$(dirname "$0")/../.."
clients=${1:-32}
seconds=${2:-20}
cargo build --release --locked -q -p tapline -p tapline-e2e --bin tapline-load
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
db=${DATABASE_URL:-sqlite://$work/tapline.db}
RUST_LOG=warn target/release/tapline serve --listen "127.0.0.1:$port" --trust-proxy \
  --tenants tests/load/tenants --data-dir "$work" --database-url "$db" \
  > "$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$port/readyz" > /dev/null 2>&1 && break
  sleep 0.1
done
echo "tapline serve on 127.0.0.1:$port ($db), $(nproc) cores; $clients clients, ${seconds}s per phase"
target/release/tapline-load "http://127.0.0.1:$port" "$clients" "$seconds"
