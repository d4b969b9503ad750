#!/usr/bin/env bash
# Usage: bench/scripts/nchan-storm.sh WORKERS tuned|default  (after make build)
# BENCHMARKS.md "Connect path (issue 18)": the storm of issue 18 against
# nginx+nchan (Debian's nginx and libnginx-mod-nchan) with a master and
# WORKERS workers: 15,000 streams from two client processes, a stream ready
# when its 200 event-stream head arrives, CPU over nginx's process tree.
# "tuned" adds `listen ... backlog=4096` and `multi_accept on` (no listen
# queue overflow); "default" is Debian's (backlog 511, multi_accept off).
# Prints the storm's table and the listen-queue counters of `nstat` over it.
# nginx is stopped by its PID; the run holds /tmp/bench.lock.
set -eu
cd "$(dirname "$0")/../.."
WORKERS=${1:-2} MODE=${2:-tuned}
BENCH=./bin/ssegw-bench
DIR=$(mktemp -d /tmp/ssegw-nchan-storm-XXXXXX)
# Ports below the ephemeral range: a load client's socket in TIME_WAIT on a
# port above 32768 makes nginx's bind fail.
SUB=21831 PUB=21832
backlog= multi=
if [ "$MODE" = tuned ]; then backlog=" backlog=4096" multi=" multi_accept on;"; fi
cat >"$DIR/nginx.conf" <<CONF
load_module /usr/lib/nginx/modules/ngx_nchan_module.so;
daemon off;
worker_processes $WORKERS;
worker_rlimit_nofile 19500;
error_log $DIR/error.log warn;
pid $DIR/nginx.pid;
events { worker_connections 19500;$multi }
http {
  access_log off;
  client_body_temp_path $DIR/body;
  proxy_temp_path $DIR/proxy;
  fastcgi_temp_path $DIR/fastcgi;
  uwsgi_temp_path $DIR/uwsgi;
  scgi_temp_path $DIR/scgi;
  server {
    listen 127.0.0.1:$SUB$backlog;
    location ~ ^/sub/(\w+)$ {
      nchan_subscriber eventsource;
      nchan_channel_id \$1;
      nchan_eventsource_ping_interval 1;
      nchan_eventsource_ping_comment "ping";
    }
  }
  server {
    listen 127.0.0.1:$PUB;
    location = /healthz { return 200 "ok\n"; }
  }
}
CONF
run() {
  /usr/sbin/nginx -p "$DIR" -c "$DIR/nginx.conf" &
  local ng=$!
  for _ in $(seq 50); do curl -sf http://127.0.0.1:$PUB/healthz >/dev/null && break; sleep 0.1; done
  nstat -n >/dev/null
  $BENCH storm --target 127.0.0.1:$SUB --path /sub/bench --server-pid $ng --streams 15000 --procs 2 --rate 100000 \
    --reconnect --ready-on-open --quiet || true
  nstat | grep -E 'ListenOverflows|ListenDrops|SynRetrans' || echo "no listen overflow, no SYN retransmit"
  kill $ng; wait $ng || true
}
export -f run
export DIR SUB PUB BENCH
echo "== $(date -u '+%F %H:%M UTC'); nginx+nchan, master + $WORKERS workers, $MODE"
flock /tmp/bench.lock bash -c run
rm -rf "$DIR"
