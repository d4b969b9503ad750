#!/usr/bin/env bash
# Usage: bench/scripts/storm-vs-nchan.sh [ROUNDS] [WORKERS]  (after make build)
# BENCHMARKS.md "Connect path (issue 18)": the storm of issue 18 against the
# gateway with its callbacks as they come (the defaults), the gateway with
# pipelined callbacks (PIPELINED below), and nginx+nchan with WORKERS (2)
# workers in its best configuration (nchan-storm.sh tuned), ROUNDS (3)
# rounds, nchan first in every other round. Each run is on fresh processes
# and holds /tmp/bench.lock (the scripts it calls take it).
set -eu
cd "$(dirname "$0")/../.."
ROUNDS=${1:-3} WORKERS=${2:-2}
PIPELINED=${PIPELINED:-"CALLBACK_CONCURRENCY=16 CALLBACK_PIPELINE=32"}
gw() { NEW_ENV="$PIPELINED" bench/scripts/connect-ab.sh bin/ssegw bin/ssegw 1 | sed -n 's/^old-1 /gateway     /p; s/^new-1 /pipelined   /p'; }
ng() { bench/scripts/nchan-storm.sh "$WORKERS" tuned | grep -E 'streams/s|µs per stream|overflow|Listen' | sed 's/^/nchan   /'; }
echo "== $(date -u '+%F %H:%M UTC'); gateway defaults, gateway with $PIPELINED, nchan $WORKERS workers tuned; load $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$ROUNDS"); do
  echo "-- round $r"
  if [ $((r % 2)) = 0 ]; then ng; gw; else gw; ng; fi
done
