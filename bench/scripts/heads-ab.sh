#!/usr/bin/env bash
# Usage: bench/scripts/heads-ab.sh OLD_GATEWAY NEW_GATEWAY [ROUNDS]  (after make build)
# BENCHMARKS.md "Request heads": two gateway binaries side by side in one
# session, alternating, ROUNDS (3) rounds: RSS per idle stream (hold, slope
# 5,000 -> 15,000) with the short, the 1 KB browser-like and the Chromium
# head, then accept + callback + ready streams per second (storm, connect and
# reconnect) with the short and the Chromium head. Each run gets a fresh
# bench backend and gateway on free loopback ports, both stopped by PID.
# Run it under /work/helpers/measure on the shared machine.
set -eu
cd "$(dirname "$0")/../.."
OLD=$1 NEW=$2 ROUNDS=${3:-3}
BENCH=./bin/ssegw-bench
OUT=${TMPDIR:-/tmp}/ssegw-heads-ab
mkdir -p "$OUT"
port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# run BIN LABEL SCENARIO [flags]: one scenario against a fresh gateway.
run() {
  local bin=$1 label=$2 scen=$3
  shift 3
  local bp gp cp bk gw
  bp=$(port) gp=$(port) cp=$(port)
  $BENCH backend --listen 127.0.0.1:"$bp" --bindings bench --max-duration 10m >/dev/null 2>&1 &
  bk=$!
  CALLBACK_URL=http://127.0.0.1:$bp/cb LISTEN_ADDR=127.0.0.1:$gp CONTROL_ADDR=127.0.0.1:$cp \
    HEARTBEAT_INTERVAL_SECONDS=1 LOG_LEVEL=warn SHUTDOWN_TIMEOUT_SECONDS=2 "$bin" 2>"$OUT/$label.gw.log" &
  gw=$!
  for _ in $(seq 100); do curl -sf http://127.0.0.1:"$cp"/readyz >/dev/null && break; sleep 0.1; done
  if [ "$scen" = hold ]; then
    $BENCH hold --target 127.0.0.1:"$gp" --server-pid $gw --streams 15000 --procs 3 --rate 3000 --steps 0,5000,15000 \
      --duration 3s --settle 2s --quiet "$@" >"$OUT/$label.txt" 2>&1 || true
    printf '%-28s %s\n' "$label" "$(grep -o 'slope 5000 -> 15000 streams: [0-9]* B/stream' "$OUT/$label.txt")"
  else
    $BENCH storm --target 127.0.0.1:"$gp" --server-pid $gw --streams 15000 --procs 3 --rate 100000 --reconnect \
      --backend-url http://127.0.0.1:"$bp" --backend-latency 0s --quiet "$@" >"$OUT/$label.txt" 2>&1 || true
    printf '%-28s %s\n' "$label" "$(grep -oE '(re)?connect +15000 streams: [0-9]+ ready in [0-9.]+s = [0-9]+ streams/s' "$OUT/$label.txt" | tr '\n' ' ')"
  fi
  kill $gw; wait $gw 2>/dev/null || true
  kill $bk; wait $bk 2>/dev/null || true
}

echo "== $(date -u '+%F %H:%M UTC'); old $OLD, new $NEW"
for r in $(seq "$ROUNDS"); do
  for head in short browser chromium; do
    run "$OLD" "old-hold-$head-$r" hold --head $head
    run "$NEW" "new-hold-$head-$r" hold --head $head
  done
done
for r in $(seq "$ROUNDS"); do
  for head in short chromium; do
    if [ $((r % 2)) = 0 ]; then # alternate which binary goes first
      run "$NEW" "new-storm-$head-$r" storm --head $head
      run "$OLD" "old-storm-$head-$r" storm --head $head
    else
      run "$OLD" "old-storm-$head-$r" storm --head $head
      run "$NEW" "new-storm-$head-$r" storm --head $head
    fi
  done
done
