# one-node.sh: sourced by the measurement scripts that put vbproxy and
# twemproxy (nutcracker) in front of one memcached server on loopback
# (syscalls-per-request.sh, latency-floor.sh). Sourcing it, from the
# repository root, with set -euo pipefail:
#   WORK, PIDS   a temp directory and the started processes, both cleaned up
#                on exit (add to PIDS what you start yourself)
#   VBPROXY, VBBENCH  the binaries: VBPROXY_BIN and VBBENCH_BIN, or built
#                into WORK
#   free_port, wait_port PORT
# and start_one_node, which starts the three servers and sets MC, VBP and
# VBP_PID, TW and TW_PID (memcached's, vbproxy's and twemproxy's ports and
# the proxies' process ids), returning once all three accept connections.
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
if [[ -z ${VBPROXY_BIN:-} || -z ${VBBENCH_BIN:-} ]]; then
	go build -o "$WORK/" ./cmd/vbproxy ./cmd/vbbench
fi
VBPROXY=${VBPROXY_BIN:-$WORK/vbproxy}
VBBENCH=${VBBENCH_BIN:-$WORK/vbbench}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }

start_one_node() {
	MC=$(free_port)
	memcached -l 127.0.0.1 -p "$MC" -U 0 -t 1 -m 64 -u nobody &
	PIDS+=($!)
	wait_port "$MC"
	python3 - "$MC" >"$WORK/map.json" <<'PY'
import json, sys
node = "127.0.0.1:" + sys.argv[1]
print(json.dumps({"rev": 1, "name": "default", "nodeLocator": "vbucket",
  "vBucketServerMap": {"hashAlgorithm": "CRC", "numReplicas": 0, "serverList": [node],
                       "vBucketMap": [[0] for _ in range(1024)]}}))
PY
	VBP=$(free_port)
	cat >"$WORK/vbproxy.yaml" <<YML
listeners:
  - address: 127.0.0.1:$VBP
    bucket: default
cluster:
  map_file: $WORK/map.json
upstream:
  pool_size: 1
admin:
  address: ""
log:
  level: warn
YML
	"$VBPROXY" -config "$WORK/vbproxy.yaml" >"$WORK/vbproxy.log" 2>&1 &
	VBP_PID=$!
	PIDS+=("$VBP_PID")
	TW=$(free_port)
	cat >"$WORK/tw.yml" <<YML
bench:
  listen: 127.0.0.1:$TW
  hash: fnv1a_64
  distribution: ketama
  timeout: 2500
  preconnect: true
  auto_eject_hosts: false
  server_connections: 1
  servers:
   - 127.0.0.1:$MC:1 mc0
YML
	/usr/sbin/nutcracker -c "$WORK/tw.yml" -s "$(free_port)" -a 127.0.0.1 -o "$WORK/tw.log" &
	TW_PID=$!
	PIDS+=("$TW_PID")
	wait_port "$VBP" && wait_port "$TW"
}
