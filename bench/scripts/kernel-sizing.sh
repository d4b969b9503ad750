#!/usr/bin/env bash
# Usage: bench/scripts/kernel-sizing.sh [IDLE_STREAMS] [STALLED_STREAMS] [MB_PER_STALLED]
# (after make build; as root, for /proc/slabinfo). README.md "Sizing": what a
# stream costs the kernel, measured on this host, loopback.
#
#   1. IDLE_STREAMS (15000) idle streams: slab memory (every cache, from
#      /proc/slabinfo), TCP buffer memory (/proc/net/sockstat "mem", pages)
#      and the gateway's server sockets' own accounting (ss -tm: queued
#      + allocated + forward-allocated bytes), before and after.
#   2. STALLED_STREAMS (200) streams whose clients stop reading
#      (ssegw-bench --no-read), then MB_PER_STALLED (4) MB published to each in
#      256 KB events: the kernel's send and receive buffers fill (the
#      remainder waits in the gateway, up to WRITE_BUFFER_LIMIT_BYTES; a
#      stream past it is closed, and counted as a slow consumer).
#
# Both ends run on this host, so slab and sockstat deltas are for a client
# and a server socket together; ss separates the two sides' buffers. Every
# process started here is stopped by its PID.
set -eu
cd "$(dirname "$0")/../.."
N=${1:-15000}
M=${2:-200}
MB=${3:-4}
OUT=${TMPDIR:-/tmp}/ssegw-kernel-sizing
mkdir -p "$OUT"
BP=4150 GP=4160 CP=4161
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
./bin/ssegw-bench backend --listen 127.0.0.1:$BP --bindings bench --max-duration 15m >"$OUT/backend.log" 2>&1 &
PIDS+=($!)
CALLBACK_URL=http://127.0.0.1:$BP/cb LISTEN_ADDR=127.0.0.1:$GP CONTROL_ADDR=127.0.0.1:$CP LOG_LEVEL=warn ./bin/ssegw >"$OUT/gw.log" 2>&1 &
GW=$!
PIDS+=($GW)
for _ in $(seq 100); do curl -sf http://127.0.0.1:$CP/readyz >/dev/null && break; sleep 0.1; done

gauge() { curl -s http://127.0.0.1:$CP/metrics | awk -v m="$1" '$1 == m { print $2 }'; }
waitopen() { for _ in $(seq 600); do [ "$(gauge ssegw_streams_open)" = "$1" ] && return; sleep 0.1; done; echo "streams did not reach $1" >&2; exit 1; }
snap() {
  cat /proc/net/sockstat >"$OUT/$1.sockstat"
  cat /proc/slabinfo >"$OUT/$1.slab"
  ss -tmnH state established "( sport = :$GP )" >"$OUT/$1.server"
  ss -tmnH state established "( dport = :$GP )" >"$OUT/$1.client"
  awk '/VmRSS/ { print $2 * 1024 }' /proc/$GW/status >"$OUT/$1.rss"
}
# slab bytes of every cache (active objects × object size), and the caches that grew most
slab() { awk 'NR > 2 { b[$1] = $2 * $4 } END { for (k in b) print k, b[k] }' "$OUT/$1.slab"; }
tcpmem() { awk '$1 == "TCP:" { for (i = 2; i < NF; i += 2) if ($i == "mem") print $(i + 1) * 4096 }' "$OUT/$1.sockstat"; }
# ss -m: skmem:(r<rmem_alloc>,rb..,t<wmem_alloc>,tb..,f<fwd_alloc>,w<wmem_queued>,...)
skmem() { grep -o 'skmem:([^)]*)' "$OUT/$1.$2" | tr -d 'skme:()' | awk -F, '{ for (i = 1; i <= NF; i++) { k = substr($i, 1, 1); if ($i ~ /^r[0-9]/) r += substr($i, 2); if (k == "f") f += substr($i, 2); if (k == "w") w += substr($i, 2) } n++ } END { printf "%d sockets, queued+alloc %.0f B each (receive %.0f, send queue %.0f, forward %.0f)\n", n, (r + w + f) / (n ? n : 1), r / (n ? n : 1), w / (n ? n : 1), f / (n ? n : 1) }'; }
report() { # $1 before, $2 after, $3 streams
  echo "  slab (both ends): $(join <(slab "$1" | sort) <(slab "$2" | sort) | awk -v n="$3" '{ d = $3 - $2; t += d } END { printf "%.0f B per connection", t / n }')"
  join <(slab "$1" | sort) <(slab "$2" | sort) | awk -v n="$3" '{ d = $3 - $2; if (d / n > 16) printf "    %-24s %6.0f B\n", $1, d / n }' | sort -k2 -rn | head -8
  echo "  sockstat TCP mem (both ends): $(( ($(tcpmem "$2") - $(tcpmem "$1")) / $3 )) B per connection"
  echo "  server sockets: $(skmem "$2" server)"
  echo "  client sockets: $(skmem "$2" client)"
  echo "  gateway RSS: $(( ($(cat "$OUT/$2.rss") - $(cat "$OUT/$1.rss")) / $3 )) B per stream"
}

echo "== $N idle streams ($(date -u '+%F %H:%M UTC'), $(uname -r), tcp_wmem $(cat /proc/sys/net/ipv4/tcp_wmem | tr '\t' ' '), tcp_rmem $(cat /proc/sys/net/ipv4/tcp_rmem | tr '\t' ' '))"
snap idle0
./bin/ssegw-bench hold --target 127.0.0.1:$GP --streams "$N" --procs $(( (N + 14999) / 15000 )) --rate 3000 --steps 0,"$N" \
  --duration 20s --settle 2s --quiet >"$OUT/hold-idle.txt" 2>&1 &
H=$!
PIDS+=($H)
waitopen "$N"
sleep 5
snap idleN
report idle0 idleN "$N"
wait $H || true
waitopen 0

echo "== $M stalled streams, $MB MB published to each"
./bin/ssegw-bench hold --target 127.0.0.1:$GP --streams "$M" --rate 1000 --steps 0,"$M" --no-read \
  --duration 60s --settle 1s --quiet >"$OUT/hold-stalled.txt" 2>&1 &
H=$!
PIDS+=($H)
waitopen "$M"
sleep 2
snap full0
DATA=$(head -c $((256 << 10)) /dev/zero | tr '\0' x)
printf '{"channel":"bench","event":{"data":"%s"}}' "$DATA" >"$OUT/publish.json"
for _ in $(seq $((MB * 4))); do
  curl -s -o /dev/null -XPOST --data-binary @"$OUT/publish.json" http://127.0.0.1:$CP/internal/publish
done
sleep 5
snap fullN
report full0 fullN "$M"
echo "  slow consumers closed: $(gauge ssegw_slow_consumer_closes_total), streams still open: $(gauge ssegw_streams_open)"
kill $H 2>/dev/null || true
