#!/usr/bin/env bash
# Usage: bench/scripts/backend-restart-storm.sh retry|status  (after make build).
# BENCHMARKS.md "A bad day for the backend": 15,000 streams storm the gateway
# while its backend restarts; prints the storm report and the connect counters.
# $1 = CONNECT_FAILURE mode. The backend restarts during the storm: it stops
# 1 s after the storm starts and is back 3 s later.
set -u
cd "$(dirname "$0")/../.."
pidfile=$(mktemp)
startbk() { ./bin/ssegw-bench backend --listen 127.0.0.1:4100 --max-duration 5m >> ${TMPDIR:-/tmp}/storm13-backend.log 2>&1 & BK=$!; echo $BK > "$pidfile"; }
startbk
sleep 0.5
CONNECT_FAILURE=$1 CALLBACK_URL=http://127.0.0.1:4100/cb LISTEN_ADDR=127.0.0.1:3100 CONTROL_ADDR=127.0.0.1:3101 HEARTBEAT_INTERVAL_SECONDS=60 ./bin/ssegw > ${TMPDIR:-/tmp}/storm13-gw-$1.log 2>&1 &
GW=$!
sleep 1
( sleep 1; kill $BK; sleep 3; startbk; echo "backend back pid $BK" >&2 ) &
./bin/ssegw-bench storm --target 127.0.0.1:3100 --streams 15000 --reconnect=false --phase-timeout 60s --server-pid $GW --max-duration 3m 2>&1 | tr '\r' '\n' | grep -v '^\[storm\]' | tail -12
curl -s 127.0.0.1:3101/metrics | grep -E 'ssegw_connects_total|connect_failures_answered'
kill $GW; wait $GW; kill "$(cat "$pidfile")" 2>/dev/null; rm -f "$pidfile"
