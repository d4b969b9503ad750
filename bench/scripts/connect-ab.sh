#!/usr/bin/env bash
# Usage: bench/scripts/connect-ab.sh OLD_GATEWAY NEW_GATEWAY [ROUNDS]  (after make build)
# BENCHMARKS.md "Connect path (issue 18)": two gateway binaries in one
# session, alternating (which goes first alternates too), ROUNDS (4) rounds of
# the storm of issue 18: 15,000 streams opened at full rate from two client
# processes, all ready, then all closed and reopened. Reported per phase:
# streams/s, the gateway's CPU per stream set up and the bench backend's
# apart, ready latency p50/p99. Each run gets a fresh bench backend and
# gateway on free loopback ports, both stopped by PID, and holds
# /tmp/bench.lock (flock) while it measures. PROFILE=1 also takes a 2 s CPU
# profile of the gateway from the control port's /debug/pprof during the
# connect phase ($OUT/LABEL.pprof). OLD_ENV and NEW_ENV add settings to each
# side's gateway (e.g. NEW_ENV="CALLBACK_CONCURRENCY=16 CALLBACK_PIPELINE=32"
# with the same binary on both sides compares two configurations).
set -eu
cd "$(dirname "$0")/../.."
OLD=$1 NEW=$2 ROUNDS=${3:-4}
BENCH=${BENCH:-./bin/ssegw-bench}
OUT=${OUT:-${TMPDIR:-/tmp}/ssegw-connect-ab}
mkdir -p "$OUT"
port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# run BIN LABEL [SETTINGS]: one storm against a fresh gateway and backend.
run() {
  local bin=$1 label=$2 settings=${3:-}
  local bp gp cp bk gw pp=
  bp=$(port) gp=$(port) cp=$(port)
  $BENCH backend --listen 127.0.0.1:"$bp" --bindings bench --max-duration 10m >/dev/null 2>&1 &
  bk=$!
  CALLBACK_URL=http://127.0.0.1:$bp/cb LISTEN_ADDR=127.0.0.1:$gp CONTROL_ADDR=127.0.0.1:$cp \
    HEARTBEAT_INTERVAL_SECONDS=1 LOG_LEVEL=warn SHUTDOWN_TIMEOUT_SECONDS=2 env $settings "$bin" 2>"$OUT/$label.gw.log" &
  gw=$!
  for _ in $(seq 100); do curl -sf http://127.0.0.1:"$cp"/readyz >/dev/null && break; sleep 0.1; done
  for _ in $(seq 100); do curl -sf http://127.0.0.1:"$bp"/stats >/dev/null && break; sleep 0.1; done
  if [ "${PROFILE:-}" = 1 ]; then
    (sleep 0.3; curl -sf -o "$OUT/$label.pprof" "http://127.0.0.1:$cp/debug/pprof/profile?seconds=2") &
    pp=$!
  fi
  $BENCH storm --target 127.0.0.1:"$gp" --server-pid $gw --backend-pid $bk --streams 15000 --procs 2 --rate 100000 \
    --reconnect --backend-url http://127.0.0.1:"$bp" --backend-latency 0s --quiet --json >"$OUT/$label.json" 2>"$OUT/$label.err" || true
  [ -n "$pp" ] && { wait $pp || true; }
  python3 - "$label" "$OUT/$label.json" <<'PY'
import json, sys
label, path = sys.argv[1], sys.argv[2]
try:
    r = json.load(open(path))
except Exception as e:
    print(f"{label:16} no report: {e}"); sys.exit(0)
ph = " | ".join(f"{p['name']} {p['streams_per_second']:6.0f}/s gw {p['server_cpu_us_per_stream']:5.1f} µs be {p['backend_cpu_us_per_stream']:5.1f} µs"
                for p in r.get("phases", []))
l = r.get("ready_latency", {})
print(f"{label:16} {ph} | ready p50 {l.get('p50_ms', 0):.0f} p99 {l.get('p99_ms', 0):.0f} ms")
PY
  kill $gw; wait $gw 2>/dev/null || true
  kill $bk; wait $bk 2>/dev/null || true
}

export BENCH OUT PROFILE=${PROFILE:-}
export -f run port
echo "== $(date -u '+%F %H:%M UTC'); old $OLD ${OLD_ENV:-}, new $NEW ${NEW_ENV:-}; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$ROUNDS"); do
  if [ $((r % 2)) = 0 ]; then
    flock /tmp/bench.lock bash -c "run $NEW new-$r '${NEW_ENV:-}'"
    flock /tmp/bench.lock bash -c "run $OLD old-$r '${OLD_ENV:-}'"
  else
    flock /tmp/bench.lock bash -c "run $OLD old-$r '${OLD_ENV:-}'"
    flock /tmp/bench.lock bash -c "run $NEW new-$r '${NEW_ENV:-}'"
  fi
done
