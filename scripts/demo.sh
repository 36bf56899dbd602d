#!/usr/bin/env bash
# The vbproxy demo (`make run`): a simulated 3-node Couchbase cluster (cbsim)
# on 127.0.0.11-13 (cluster manager :8091, KV :11210) with vbproxy in front
# on 127.0.0.1:11211 and its admin HTTP on 127.0.0.1:8080. Ctrl-C stops both.
#
# With --tls (`make run TLS=1`) both sides also speak TLS: cbsim serves https
# on :18091 and KV TLS on :11207 with a CA it writes to the work directory,
# vbproxy reaches it over TLS only (an https seed, cluster.tls.ca_file) and
# serves a TLS listener on 127.0.0.1:11207 next to the plain one, with a
# certificate from the same CA (made with openssl).
#
# Environment overrides: VBPROXY_LISTEN (127.0.0.1:11211), VBPROXY_TLS_LISTEN
# (127.0.0.1:11207, with --tls), VBPROXY_ADMIN (127.0.0.1:8080), CBSIM_NODES
# (3), GO (go).
set -euo pipefail

usage() { printf 'usage: %s [--tls]\n' "$0" >&2; exit 2; }
TLS=0
for arg in "$@"; do
	case $arg in
	--tls | -tls) TLS=1 ;;
	-h | --help) usage ;;
	*) printf 'demo: unknown argument %q\n' "$arg" >&2; usage ;;
	esac
done
# Job control: the children get their own process groups, so a Ctrl-C reaches
# only this script, which then stops them once, in order.
set -m

cd "$(dirname "$0")/.."
GO=${GO:-go}
LISTEN=${VBPROXY_LISTEN:-127.0.0.1:11211}
ADMIN=${VBPROXY_ADMIN:-127.0.0.1:8080}
TLS_LISTEN=${VBPROXY_TLS_LISTEN:-127.0.0.1:11207}
NODES=${CBSIM_NODES:-3}
SEED=http://127.0.0.11:8091
TLS_SEED=https://127.0.0.11:18091
USER_NAME=Administrator
PASSWORD=password
VERSION=$(git describe --tags --always --dirty 2>/dev/null || echo dev)

log() { printf '%s\n' "demo: $*" >&2; }

# http_status URL: the HTTP status of a GET, "000" when nothing answers.
# An https URL is verified against the demo's CA.
http_status() {
	if [[ $1 == https://* ]]; then
		curl -s -o /dev/null -m 2 --cacert "$TLS_DIR/ca.pem" -w '%{http_code}' "$1" || true
		return
	fi
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

# need_tools TOOL... : install the Debian packages of missing tools when
# running as root, otherwise say which to install. Tools are "command:package".
need_tools() {
	local missing=() pkgs=() t
	for t in "$@"; do
		command -v "${t%%:*}" >/dev/null 2>&1 || { missing+=("${t%%:*}"); pkgs+=("${t#*:}"); }
	done
	((${#missing[@]} == 0)) && return 0
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		log "installing ${pkgs[*]} (for ${missing[*]})"
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}"; } >/dev/null 2>&1 ||
			log "apt-get install failed; install ${pkgs[*]}"
	else
		log "hint: sudo apt-get install -y ${pkgs[*]} (for ${missing[*]})"
	fi
}

if [[ $TLS == 1 ]]; then
	# openssl issues the TLS listener's certificate; curl checks https.
	need_tools openssl:openssl curl:curl
	for t in openssl curl; do
		command -v "$t" >/dev/null 2>&1 || { log "--tls needs $t"; exit 1; }
	done
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/vbproxy-demo.XXXXXX")
TLS_DIR=$WORK/tls
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

CBSIM_TLS=()
WAIT_SEED=$SEED
if [[ $TLS == 1 ]]; then
	CBSIM_TLS=(-tls-dir "$TLS_DIR" -kv-tls-port 11207)
	WAIT_SEED=$TLS_SEED
fi
log "starting cbsim: $NODES nodes on 127.0.0.11..${CBSIM_TLS:+ with TLS (CA in $TLS_DIR/ca.pem)} (logs: $WORK/cbsim.log)"
# -flush and -allow-flush: memccapable starts with FLUSH (a production
# vbproxy refuses FLUSH unless allow_flush is set).
bin/cbsim -nodes "$NODES" -user "$USER_NAME" -password "$PASSWORD" -rebalance-delay 200ms -flush "${CBSIM_TLS[@]}" \
	>"$WORK/cbsim.out" 2>"$WORK/cbsim.log" &
CBSIM_PID=$!

for _ in $(seq 1 100); do
	if ! kill -0 "$CBSIM_PID" 2>/dev/null; then
		log "cbsim exited:"; cat "$WORK/cbsim.log" >&2; exit 1
	fi
	# With TLS the CA file exists before the https port answers.
	if [[ $TLS == 0 || -s $TLS_DIR/ca.pem ]] && [ "$(http_status "$WAIT_SEED/pools")" = 200 ]; then
		break
	fi
	sleep 0.1
done

HOST=${LISTEN%:*}
PORT=${LISTEN##*:}
TLS_HOST=${TLS_LISTEN%:*}
TLS_PORT=${TLS_LISTEN##*:}

if [[ $TLS == 1 ]]; then
	# The TLS listener's certificate, for its address and localhost, signed
	# by the CA cbsim made (so one CA file verifies both sides).
	san="DNS:localhost"
	if [[ $TLS_HOST =~ ^[0-9.]+$ || $TLS_HOST == *:* ]]; then san="IP:$TLS_HOST,$san"; else san="DNS:$TLS_HOST,$san"; fi
	printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\nbasicConstraints=critical,CA:FALSE\n' "$san" >"$TLS_DIR/vbproxy.ext"
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=vbproxy demo" \
		-keyout "$TLS_DIR/vbproxy-key.pem" -out "$TLS_DIR/vbproxy.csr" 2>"$WORK/openssl.log" &&
		openssl x509 -req -in "$TLS_DIR/vbproxy.csr" -CA "$TLS_DIR/ca.pem" -CAkey "$TLS_DIR/ca-key.pem" \
			-set_serial "0x$(openssl rand -hex 8)" -days 7 -sha256 -extfile "$TLS_DIR/vbproxy.ext" \
			-out "$TLS_DIR/vbproxy.pem" 2>>"$WORK/openssl.log" ||
		{ log "openssl could not issue the listener's certificate:"; cat "$WORK/openssl.log" >&2; exit 1; }
	# -check-config and -config both read this file; the password stays in
	# its own file.
	cat >"$WORK/vbproxy.yaml" <<-YAML
		# The demo's vbproxy with TLS on both sides (scripts/demo.sh --tls).
		listeners:
		  - address: "$LISTEN"
		    bucket: default
		    allow_flush: true
		  - address: "$TLS_LISTEN"
		    bucket: default
		    allow_flush: true
		    tls:
		      cert_file: $TLS_DIR/vbproxy.pem
		      key_file: $TLS_DIR/vbproxy-key.pem
		cluster:
		  seeds: ["$TLS_SEED"]
		  user: $USER_NAME
		  password_file: $WORK/cluster.password
		  tls:
		    ca_file: $TLS_DIR/ca.pem
		admin:
		  address: "$ADMIN"
		log:
		  level: info
		  format: text
	YAML
	if ! bin/vbproxy -check-config "$WORK/vbproxy.yaml" >"$WORK/check.log" 2>&1; then
		log "vbproxy rejects the demo's TLS config ($WORK/vbproxy.yaml):"; cat "$WORK/check.log" >&2; exit 1
	fi
	log "starting vbproxy on $LISTEN and $TLS_LISTEN (TLS), cluster over TLS ($TLS_SEED), admin on $ADMIN (logs: $WORK/vbproxy.log)"
	bin/vbproxy -config "$WORK/vbproxy.yaml" 2>"$WORK/vbproxy.log" &
else
	log "starting vbproxy on $LISTEN, admin on $ADMIN (logs: $WORK/vbproxy.log)"
	bin/vbproxy -listen "$LISTEN" -bucket default -cluster "$SEED" \
		-user "$USER_NAME" -password-file "$WORK/cluster.password" -admin "$ADMIN" -allow-flush \
		2>"$WORK/vbproxy.log" &
fi
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

# The suggested clients come from Debian's memcached, libmemcached-tools
# and netcat (and socat for memccapable over TLS).
CLIENT_TOOLS=(memccapable:libmemcached-tools memccp:libmemcached-tools nc:netcat-openbsd)
[[ $TLS == 1 ]] && CLIENT_TOOLS+=(socat:socat)
need_tools "${CLIENT_TOOLS[@]}"

TLS_HELP=""
if [[ $TLS == 1 ]]; then
	TLS_HELP=$(
		cat <<TLSMSG

Over TLS: $TLS_LISTEN serves the same bucket with a certificate for
$TLS_HOST signed by $TLS_DIR/ca.pem (the CA of the cluster's
certificates too); vbproxy reaches the cluster only over TLS ($TLS_SEED,
KV on each node's port 11207).
  # the text protocol straight over TLS
  printf 'set greeting 0 0 5\\r\\nhello\\r\\nget greeting\\r\\nquit\\r\\n' |
    openssl s_client -quiet -verify_quiet -verify_return_error -CAfile $TLS_DIR/ca.pem -connect $TLS_LISTEN
  # any plain client through a local TLS wrapper: socat listens plain on 21207
  socat TCP-LISTEN:21207,bind=127.0.0.1,reuseaddr,fork OPENSSL:$TLS_LISTEN,cafile=$TLS_DIR/ca.pem &
  memccapable -b -h 127.0.0.1 -p 21207
  # the cluster manager over https
  curl -s --cacert $TLS_DIR/ca.pem -u $USER_NAME:$PASSWORD $TLS_SEED/pools/default/buckets/default | head -c 300; echo
TLSMSG
	)
fi

cat <<MSG

vbproxy is ready: memcached binary and text protocols on $LISTEN, bucket "default" of a
simulated $NODES-node Couchbase cluster ($WAIT_SEED, $USER_NAME/$PASSWORD).

Talk to it:
  # the memcached binary protocol test suite
  memccapable -b -h $HOST -p $PORT
  # store a file under its name, read it back
  memccp --servers=$LISTEN --binary /etc/hostname && memccat --servers=$LISTEN --binary hostname
  # the text protocol on the same port: memcached's ASCII test suite, then a set and a get
  memccapable -a -h $HOST -p $PORT
  printf 'set k 0 0 1\r\nv\r\nget k\r\n' | nc -q1 $HOST $PORT
  # a raw NOOP request; the reply starts with 81 0a
  printf '\x80\x0a\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00' | nc -q1 $HOST $PORT | od -An -tx1$TLS_HELP

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
