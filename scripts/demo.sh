#!/usr/bin/env bash
# The vbproxy demo (`make run`): a simulated 3-node Couchbase cluster (cbsim)
# on 127.0.0.11-13 (cluster manager :8091, KV :11210) with vbproxy in front
# on 127.0.0.1:11211 and its admin HTTP on 127.0.0.1:8080. Ctrl-C stops both.
#
# Environment overrides: VBPROXY_LISTEN (127.0.0.1:11211), VBPROXY_ADMIN
# (127.0.0.1:8080), CBSIM_NODES (3), GO (go).
set -euo pipefail
# Job control: the children get their own process groups, so a Ctrl-C reaches
# only this script, which then stops them once, in order.
set -m

cd "$(dirname "$0")/.."
GO=${GO:-go}
LISTEN=${VBPROXY_LISTEN:-127.0.0.1:11211}
ADMIN=${VBPROXY_ADMIN:-127.0.0.1:8080}
NODES=${CBSIM_NODES:-3}
SEED=http://127.0.0.11:8091
USER_NAME=Administrator
PASSWORD=password
VERSION=$(git describe --tags --always --dirty 2>/dev/null || echo dev)

log() { printf '%s\n' "demo: $*" >&2; }

# http_status URL: the HTTP status of a GET, "000" when nothing answers.
http_status() {
	if command -v curl >/dev/null 2>&1; then
		curl -s -o /dev/null -m 2 -w '%{http_code}' "$1" || true
		return
	fi
	local hostport=${1#http://}
	local path=/${hostport#*/}
	hostport=${hostport%%/*}
	local line
	if exec 3<>"/dev/tcp/${hostport%:*}/${hostport##*:}" 2>/dev/null; then
		printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$path" "$hostport" >&3
		read -r -t 2 line <&3 || true
		exec 3>&-
		line=${line#* }
		printf '%s' "${line%% *}"
	else
		printf '000'
	fi
}

log "building bin/cbsim and bin/vbproxy"
mkdir -p bin
"$GO" build -trimpath -ldflags "-X main.version=$VERSION" -o bin/ ./cmd/cbsim ./cmd/vbproxy

WORK=$(mktemp -d "${TMPDIR:-/tmp}/vbproxy-demo.XXXXXX")
CBSIM_PID=""
VBPROXY_PID=""
TAIL_PID=""

cleanup() {
	trap - INT TERM EXIT
	log "stopping"
	# vbproxy first (its drain shows in the log being followed), then the
	# cluster behind it, then the log follower.
	[ -n "$VBPROXY_PID" ] && kill -TERM "$VBPROXY_PID" 2>/dev/null || true
	[ -n "$VBPROXY_PID" ] && wait "$VBPROXY_PID" 2>/dev/null || true
	[ -n "$CBSIM_PID" ] && kill -TERM "$CBSIM_PID" 2>/dev/null || true
	[ -n "$CBSIM_PID" ] && wait "$CBSIM_PID" 2>/dev/null || true
	if [ -n "$TAIL_PID" ]; then
		sleep 0.2
		kill "$TAIL_PID" 2>/dev/null || true
		wait "$TAIL_PID" 2>/dev/null || true
	fi
	rm -rf "$WORK"
	log "stopped"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

# The password reaches vbproxy through a file only it can read, never argv.
umask 077
printf '%s\n' "$PASSWORD" >"$WORK/cluster.password"

log "starting cbsim: $NODES nodes on 127.0.0.11.. (logs: $WORK/cbsim.log)"
# -flush and -allow-flush: memccapable starts with FLUSH (a production
# vbproxy refuses FLUSH unless allow_flush is set).
bin/cbsim -nodes "$NODES" -user "$USER_NAME" -password "$PASSWORD" -rebalance-delay 200ms -flush \
	>"$WORK/cbsim.out" 2>"$WORK/cbsim.log" &
CBSIM_PID=$!

for _ in $(seq 1 100); do
	[ "$(http_status "$SEED/pools")" = 200 ] && break
	if ! kill -0 "$CBSIM_PID" 2>/dev/null; then
		log "cbsim exited:"; cat "$WORK/cbsim.log" >&2; exit 1
	fi
	sleep 0.1
done

log "starting vbproxy on $LISTEN, admin on $ADMIN (logs: $WORK/vbproxy.log)"
bin/vbproxy -listen "$LISTEN" -bucket default -cluster "$SEED" \
	-user "$USER_NAME" -password-file "$WORK/cluster.password" -admin "$ADMIN" -allow-flush \
	2>"$WORK/vbproxy.log" &
VBPROXY_PID=$!

ready=""
for _ in $(seq 1 150); do
	if [ "$(http_status "http://$ADMIN/readyz")" = 200 ]; then ready=1; break; fi
	if ! kill -0 "$VBPROXY_PID" 2>/dev/null; then
		log "vbproxy exited:"; cat "$WORK/vbproxy.log" >&2; exit 1
	fi
	sleep 0.1
done
if [ -z "$ready" ]; then
	log "vbproxy not ready after 15s:"; cat "$WORK/vbproxy.log" >&2; exit 1
fi

# The suggested clients come from Debian's memcached and libmemcached-tools.
if ! command -v memccapable >/dev/null 2>&1 || ! command -v nc >/dev/null 2>&1; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		log "installing memcached, libmemcached-tools and netcat for the client examples"
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq memcached libmemcached-tools netcat-openbsd; } >/dev/null 2>&1 ||
			log "apt-get install failed; the client examples below need memcached, libmemcached-tools and netcat"
	else
		log "hint: sudo apt-get install -y memcached libmemcached-tools netcat-openbsd (for the client examples below)"
	fi
fi

HOST=${LISTEN%:*}
PORT=${LISTEN##*:}
cat <<MSG

vbproxy is ready: memcached binary protocol on $LISTEN, bucket "default" of a
simulated $NODES-node Couchbase cluster ($SEED, $USER_NAME/$PASSWORD).

Talk to it:
  # the memcached binary protocol test suite
  memccapable -b -h $HOST -p $PORT
  # store a file under its name, read it back
  memccp --servers=$LISTEN --binary /etc/hostname && memccat --servers=$LISTEN --binary hostname
  # a raw NOOP request; the reply starts with 81 0a
  printf '\x80\x0a\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00' | nc -q1 $HOST $PORT | od -An -tx1

Watch it:
  open http://$ADMIN/ in a browser: the console (the vBucket map, nodes, events)
  curl -s http://$ADMIN/readyz
  curl -s http://$ADMIN/vbmap            # the map; ?full=1 adds every vBucket
  curl -s http://$ADMIN/metrics | grep '^vbproxy_'
  curl -s -X POST http://$ADMIN/reload   # refetch the map now

Change the cluster (vbproxy follows; watch the log lines below):
  # add a node, then rebalance vBuckets onto it (moves are paced: 200ms per batch)
  curl -s -u $USER_NAME:$PASSWORD -X POST http://127.0.0.11:8091/sim/addNode
  curl -s -u $USER_NAME:$PASSWORD -X POST http://127.0.0.11:8091/controller/rebalance \\
       -d knownNodes=$(seq -s, -f 'ns_1@127.0.0.%g' 11 $((10 + NODES + 1)))
  # fail a node over: its replicas are promoted
  curl -s -u $USER_NAME:$PASSWORD -X POST http://127.0.0.11:8091/controller/failOver -d otpNode=ns_1@127.0.0.12

Logs: $WORK/vbproxy.log and $WORK/cbsim.log. Ctrl-C stops everything.

MSG

tail -n +1 -f "$WORK/vbproxy.log" &
TAIL_PID=$!
wait "$VBPROXY_PID" || true
VBPROXY_PID=""
log "vbproxy exited"
