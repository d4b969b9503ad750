#!/usr/bin/env bash
# Cluster scale run (BENCHMARKS.md "Cluster: 100k streams over N gateways"):
# one nats-server, GATEWAYS gateway processes sharing one public port
# (SO_REUSEPORT), each with its own control port, the bench backend, and
# `ssegw-bench fanout` holding STREAMS streams and publishing through the
# first gateway's control port. Prints a summary; raw files stay in OUT.
#
#   go build -o bin/ssegw ./cmd/ssegw && go build -o bin/ssegw-bench ./cmd/ssegw-bench
#   STREAMS=100000 GATEWAYS=8 cluster/scale-run.sh
#
# Needs nats-server on PATH (Debian: apt-get install nats-server). Every
# process it starts is ended by PID on exit, and each is bounded in time.
set -euo pipefail
cd "$(dirname "$0")/.."

STREAMS=${STREAMS:-100000}
GATEWAYS=${GATEWAYS:-8}
CLIENT_PROCS=${CLIENT_PROCS:-$(((STREAMS + 14999) / 15000))}
BASE_PORT=${BASE_PORT:-27000} # below the ephemeral range; public BASE, controls BASE+1.., backend BASE+90, nats BASE+99
RATE=${RATE:-4000}            # connects per second, all client processes
DURATION=${DURATION:-30s}     # publishing time, one publish per second
LIMIT=${LIMIT:-900}           # seconds any process may live
OUT=${OUT:-/tmp/ssegw-cluster-scale}
EVENT_LOOPS=${EVENT_LOOPS:-1}

mkdir -p "$OUT"
rm -f "$OUT"/*.log "$OUT"/samples.tsv "$OUT"/fanout.json
pids=()
gwpids=()
cleanup() {
	# gateways first (they drain and send their disconnect callbacks), then the
	# backend, the broker and the watchdogs
	for p in "${gwpids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${gwpids[@]}"; do wait "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
# bounded CMD...: runs CMD in the background (its own PID in $last, so /proc
# shows its RSS and CPU) with a watchdog that ends it after LIMIT seconds.
bounded() {
	"$@" &
	last=$!
	pids+=("$last")
	(sleep "$LIMIT" && kill -TERM "$last" 2>/dev/null) &
	pids+=($!)
}

public=127.0.0.1:$BASE_PORT
natsport=$((BASE_PORT + 99))
beaddr=127.0.0.1:$((BASE_PORT + 90))

bounded nats-server -a 127.0.0.1 -p "$natsport" >"$OUT/nats.log" 2>&1
natspid=$last
bounded bin/ssegw-bench backend --listen "$beaddr" --bindings bench --max-duration "${LIMIT}s" >"$OUT/backend.log" 2>&1

for i in $(seq 1 "$GATEWAYS"); do
	LISTEN_ADDR=$public CONTROL_ADDR=127.0.0.1:$((BASE_PORT + i)) CALLBACK_URL=http://$beaddr/cb \
		NATS_URL=nats://127.0.0.1:$natsport EVENT_LOOPS=$EVENT_LOOPS LOG_LEVEL=warn \
		bounded bin/ssegw >"$OUT/gw$i.log" 2>&1
	gwpids+=("$last")
done
for i in $(seq 1 "$GATEWAYS"); do
	for _ in $(seq 1 100); do
		curl -sf "http://127.0.0.1:$((BASE_PORT + i))/readyz" >/dev/null && break
		sleep 0.1
	done
	curl -sf "http://127.0.0.1:$((BASE_PORT + i))/readyz" >/dev/null || { echo "gateway $i not ready" >&2; exit 1; }
done

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
streams() { curl -sf "http://127.0.0.1:$1/metrics" | awk '$1 == "ssegw_streams_open" {print $2}'; }

# sampler: time, streams per gateway (sum), gateways' RSS KiB (sum), nats RSS KiB,
# gateways' CPU ticks (sum), nats CPU ticks, and the per-gateway stream counts
sample() {
	local s=0 r=0 c=0 per=""
	for i in $(seq 1 "$GATEWAYS"); do
		local p=${gwpids[$((i - 1))]} n
		n=$(streams $((BASE_PORT + i)) || echo 0)
		s=$((s + ${n%.*})); per="$per ${n%.*}"
		r=$((r + $(rss "$p"))); c=$((c + $(ticks "$p")))
	done
	printf '%s\t%d\t%d\t%d\t%d\t%d\t%s\n' "$(date +%s.%N)" "$s" "$r" "$(rss "$natspid")" "$c" "$(ticks "$natspid")" "$per"
}
sample >"$OUT/samples.tsv"
(while sleep 1; do sample; done >>"$OUT/samples.tsv") &
samplerpid=$!
pids+=("$samplerpid")

bin/ssegw-bench fanout --max-duration "${LIMIT}s" --target "$public" --streams "$STREAMS" --procs "$CLIENT_PROCS" --rate "$RATE" \
	--publish-url "http://127.0.0.1:$((BASE_PORT + 1))/internal/publish" --publish-rate 1 --duration "$DURATION" \
	--late-streams 0 --server-pid "${gwpids[0]}" --quiet --json >"$OUT/fanout.json" 2>"$OUT/fanout.log"
kill "$samplerpid" 2>/dev/null || true

grep -E '"(expected_deliveries|delivered|publish_errors|p50_ms|p90_ms|p99_ms|max_ms|opened|failed)"' "$OUT/fanout.json" | head -9 | tr -d ' ,' | paste -sd' '
echo "gateways=$GATEWAYS streams=$STREAMS client_procs=$CLIENT_PROCS"
echo "samples: $OUT/samples.tsv   fanout report: $OUT/fanout.json"
# plateau: the samples holding the most streams
delivered=$(grep -m1 '"delivered"' "$OUT/fanout.json" | tr -dc 0-9)
awk -F'\t' -v hz="$(getconf CLK_TCK)" -v delivered="$delivered" -v first="$(head -1 "$OUT/samples.tsv" | cut -f3)" '
	NR == 1 { next }
	$2 > max { max = $2 }
	{ row[NR] = $0 }
	END {
		for (k in row) { split(row[k], f, "\t"); if (f[2] == max) { if (!t0 || f[1] < t0) { t0 = f[1]; g0 = f[5]; n0 = f[6]; r0 = f[3]; nr0 = f[4]; per = f[7] } if (f[1] > t1) { t1 = f[1]; g1 = f[5]; n1 = f[6] } } }
		printf "streams held (max, all gateways): %d  per gateway:%s\n", max, per
		printf "gateways RSS at plateau: %.1f MiB (%.0f B/stream total, %.0f B/stream over the idle gateways)\n", r0 / 1024, r0 * 1024 / max, (r0 - first) * 1024 / max
		printf "nats-server RSS: %.1f MiB\n", nr0 / 1024
		dt = t1 - t0; dg = (g1 - g0) / hz; dn = (n1 - n0) / hz
		if (dt > 0) printf "plateau %.0f s: gateways CPU %.1f%% of one core, nats-server %.1f%%, broker share %.1f%%\n", dt, 100 * dg / dt, 100 * dn / dt, 100 * dn / (dn + dg + 1e-9)
		if (dg > 0) printf "deliveries %d: %.0f per gateway CPU-second\n", delivered, delivered / dg
	}' "$OUT/samples.tsv"
