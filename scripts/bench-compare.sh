#!/usr/bin/env bash
# bench-compare.sh: vbproxy vs twemproxy vs direct memcached, on loopback.
#
# Starts three memcached servers (-t 1, 64 MB), vbproxy in front of them
# (static map, 1024 vBuckets), twemproxy (nutcracker, ketama) in front of the
# same three, and drives every target with the same workload, alternating
# targets round-robin over several short rounds so that machine drift hits
# them alike:
#   - memcaslap, one request in flight per connection: binary protocol for
#     direct and vbproxy, ASCII for twemproxy (it speaks nothing else) and
#     for direct as the ASCII baseline, and for vbproxy too (its text front
#     end: target vbproxy/ascii), so that the comparison with twemproxy is
#     like for like;
#   - vbbench over a sweep of connections x pipeline depth, for throughput and
#     latency percentiles (binary for direct and vbproxy, ASCII for twemproxy,
#     and vbproxy again in ASCII: vbbench -protocol ascii, like for like).
#     vbproxy also listens with TLS (a certificate from a CA made here with
#     openssl): target vbproxy-tls is the same process reached through that
#     listener by vbbench -tls-ca (client TLS, upstream plain to memcached),
#     in the same rotation, so the report compares it with the plain path.
# Around every run it samples the CPU time of the proxy, the memcached servers
# and the whole machine (/proc), for the report's CPU-per-request table.
# Then it measures proxy memory per idle client connection (VmRSS before and
# after opening IDLE_CONNS connections to a fresh process) and, in the full
# run, takes a CPU profile of vbproxy under load. Everything it starts is torn
# down on exit.
#
# Writes BENCHMARKS.md at the repository root (its Notes section is kept),
# bench/results/bench-compare.svg and bench/results/results.jsonl (the raw
# records). BENCH_QUICK=1 runs a 1-2 minute smoke version and writes to
# BENCH_OUT (default: a new temporary directory, named in the last log line),
# leaving the committed report alone; so does an A/B run (BENCH_BASELINE).
#
# Environment (defaults: full / quick):
#   BENCH_QUICK=1          smoke version
#   BENCH_OUT=DIR          where to write the report (repo root / temp dir)
#   BENCH_ROUNDS           rounds per point (3 / 1)
#   BENCH_DURATION         vbbench measured seconds per run (3 / 1)
#   BENCH_POOL_SIZE        vbproxy upstream.pool_size (1, like twemproxy's server_connections)
#   BENCH_CONNS            vbbench connection counts ("1 16 64 256" / "1 16")
#   BENCH_PIPELINES        vbbench pipeline depths ("1 16")
#   BENCH_MC_CONNS         memcaslap connection counts ("16 64" / "16")
#   BENCH_KEYS             keys per target (50000 / 10000)
#   BENCH_IDLE_CONNS       idle connections for the memory check (10000 / 2000)
#   BENCH_PROFILE=0|1      CPU profile of vbproxy (1 / 0)
#   BENCH_TLS=0|1          the vbproxy-tls target (1)
#   VBPROXY_BIN, VBBENCH_BIN   use these binaries instead of building them
#   BENCH_BASELINE=REV     A/B: also run vbproxy built at git revision REV as
#                          target "vbproxy-baseline", in the same rotation; the
#                          report gains a vbproxy-vs-baseline table. With
#                          BENCH_OUT, a full run leaves BENCHMARKS.md alone.
#   VBPROXY_BASELINE_BIN   the same with a vbproxy binary instead of a revision
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
QUICK=${BENCH_QUICK:-0}
if [[ $QUICK == 1 ]]; then
	ROUNDS=${BENCH_ROUNDS:-1}
	DURATION=${BENCH_DURATION:-1}
	WARMUP=0.2
	CONNS=${BENCH_CONNS:-"1 16"}
	MC_CONNS=${BENCH_MC_CONNS:-"16"}
	KEYS=${BENCH_KEYS:-10000}
	IDLE_CONNS=${BENCH_IDLE_CONNS:-2000}
	PROFILE=${BENCH_PROFILE:-0}
	MODE="quick smoke run, BENCH_QUICK=1"
else
	ROUNDS=${BENCH_ROUNDS:-3}
	DURATION=${BENCH_DURATION:-3}
	WARMUP=0.5
	CONNS=${BENCH_CONNS:-"1 16 64 256"}
	MC_CONNS=${BENCH_MC_CONNS:-"16 64"}
	KEYS=${BENCH_KEYS:-50000}
	IDLE_CONNS=${BENCH_IDLE_CONNS:-10000}
	PROFILE=${BENCH_PROFILE:-1}
	MODE="full run"
fi
PIPELINES=${BENCH_PIPELINES:-"1 16"}
TLS=${BENCH_TLS:-1}
MAIN_CONNS=16
VALUE_SIZE=100
RATIO=0.9
VBUCKETS=1024
# One upstream connection per node, as twemproxy is configured (server_connections 1).
POOL_SIZE=${BENCH_POOL_SIZE:-1}

log() { printf '%s bench-compare: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

for tool in /usr/bin/memcached /usr/sbin/nutcracker /usr/bin/memcaslap curl go; do
	command -v "$tool" >/dev/null || die "$tool not found (apt-get install memcached nutcracker libmemcached-tools curl; Go on PATH)"
done
[[ $TLS == 0 ]] || command -v openssl >/dev/null || die "openssl not found (apt-get install openssl; or BENCH_TLS=0)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-compare.XXXXXX")
if [[ $QUICK == 1 ]]; then
	OUT_DIR=${BENCH_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/bench-quick.XXXXXX")}
	OUT_MD=$OUT_DIR/BENCHMARKS.md
	RES_DIR=$OUT_DIR
	NOTES_FROM=$ROOT/BENCHMARKS.md
else
	OUT_DIR=${BENCH_OUT:-$ROOT}
	if [[ -z ${BENCH_OUT:-} && -n ${BENCH_BASELINE:-}${VBPROXY_BASELINE_BIN:-} ]]; then
		# An A/B run is not the project's report: keep it out of the tree.
		OUT_DIR=$(mktemp -d "${TMPDIR:-/tmp}/bench-ab.XXXXXX")
	fi
	OUT_MD=$OUT_DIR/BENCHMARKS.md
	RES_DIR=$OUT_DIR/bench/results
	NOTES_FROM=$OUT_MD
fi
mkdir -p "$OUT_DIR" "$RES_DIR"
RESULTS=$WORK/results.jsonl
: >"$RESULTS"

PIDS=()
cleanup() {
	local rc=$?
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	if [[ $rc != 0 ]]; then
		log "logs kept in $WORK"
		for f in "$WORK"/*.log; do
			[[ -s $f ]] && { echo "--- $f (last lines)" >&2; tail -n 20 "$f" >&2; }
		done
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT

# stop_pid PID: end a process this script started and forget it.
stop_pid() {
	local pid=$1 keep=() p
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	for p in "${PIDS[@]}"; do
		[[ $p == "$pid" ]] || keep+=("$p")
	done
	PIDS=("${keep[@]}")
}
trap 'exit 130' INT TERM

# Idle connections need file descriptors: in this shell, so that children
# (vbproxy, nutcracker, vbbench idle) inherit it.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
(( $(ulimit -n) >= IDLE_CONNS + 1000 )) || die "ulimit -n is $(ulimit -n), need at least $((IDLE_CONNS + 1000)) for $IDLE_CONNS idle connections"

# ---- binaries ---------------------------------------------------------------
# The code's revision, taken when the binaries are built (files that change
# during the run are not in them); the report files this script writes do not
# make it dirty.
VBPROXY_REV=$(git -C "$ROOT" describe --always 2>/dev/null || echo unknown)
if [ -n "$(git -C "$ROOT" status --porcelain -- . ':!BENCHMARKS.md' ':!bench/results' 2>/dev/null)" ]; then
	VBPROXY_REV="$VBPROXY_REV-dirty"
fi
if [[ -z ${VBPROXY_BIN:-} || -z ${VBBENCH_BIN:-} ]]; then
	log "building vbproxy and vbbench"
	(cd "$ROOT" && go build -trimpath -o "$WORK/bin/" ./cmd/vbproxy ./cmd/vbbench) || die "go build failed"
fi
VBPROXY=${VBPROXY_BIN:-$WORK/bin/vbproxy}
VBBENCH=${VBBENCH_BIN:-$WORK/bin/vbbench}
[[ -x $VBPROXY ]] || die "vbproxy binary $VBPROXY missing"
[[ -x $VBBENCH ]] || die "vbbench binary $VBBENCH missing"
BASELINE_BIN=${VBPROXY_BASELINE_BIN:-}
BASELINE_DESC=${VBPROXY_BASELINE_BIN:+binary $VBPROXY_BASELINE_BIN}
if [[ -z $BASELINE_BIN && -n ${BENCH_BASELINE:-} ]]; then
	rev=$(git -C "$ROOT" rev-parse --verify --quiet "$BENCH_BASELINE^{commit}") ||
		die "BENCH_BASELINE=$BENCH_BASELINE is not a commit of $ROOT"
	log "building vbproxy at $BENCH_BASELINE ($rev) as the baseline"
	mkdir -p "$WORK/baseline-src"
	git -C "$ROOT" archive "$rev" | tar -x -C "$WORK/baseline-src" || die "git archive $rev failed"
	(cd "$WORK/baseline-src" && go build -trimpath -o "$WORK/bin/vbproxy-baseline" ./cmd/vbproxy) ||
		die "go build of the baseline ($BENCH_BASELINE) failed"
	BASELINE_BIN=$WORK/bin/vbproxy-baseline
	BASELINE_DESC="$BENCH_BASELINE ($(git -C "$ROOT" describe --always "$rev"))"
fi
[[ -z $BASELINE_BIN || -x $BASELINE_BIN ]] || die "baseline binary $BASELINE_BIN missing"

# ---- helpers ----------------------------------------------------------------
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Ports come from below the kernel's ephemeral range, so that the thousands
# of client sockets of the idle-connection test (and their TIME_WAIT
# leftovers) never take a port a server is about to bind; a port any socket
# uses is skipped.
EPHEMERAL_LO=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
USED_PORTS=" "
free_port() {
	local p span=$((EPHEMERAL_LO - 10000))
	((span > 1000)) || die "ephemeral port range starts at $EPHEMERAL_LO: no room for server ports"
	for _ in $(seq 200); do
		p=$((10000 + (RANDOM * 32768 + RANDOM) % span))
		[[ $USED_PORTS == *" $p "* ]] && continue
		[[ -n $(ss -Htan "( sport = :$p )" 2>/dev/null) ]] && continue
		port_open "$p" && continue
		USED_PORTS+="$p "
		echo "$p"
		return
	done
	die "no free port found"
}

# wait_port PORT PID NAME: wait until NAME (PID) listens on PORT. Returns 1
# if it exited (for example because someone else took the port meanwhile).
wait_port() {
	for _ in $(seq 200); do
		port_open "$1" && return 0
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.05
	done
	die "$3 is not listening on 127.0.0.1:$1 after 10s"
}

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# JSON string escaping for the few strings we write ourselves.
json_str() {
	local s=${1//\\/\\\\}
	s=${s//\"/\\\"}
	s=${s//$'\n'/ }
	s=${s//$'\t'/ }
	printf '"%s"' "$s"
}

# rotate N WORDS...: the words rotated left by N.
rotate() {
	local n=$1
	shift
	local a=("$@") i
	for ((i = 0; i < ${#a[@]}; i++)); do
		printf '%s ' "${a[$(((i + n) % ${#a[@]}))]}"
	done
}

# ---- servers ----------------------------------------------------------------
MC_PORTS=()
MC_PIDS=()
MEMCACHED_USER=()
[[ $(id -u) == 0 ]] && MEMCACHED_USER=(-u nobody)
for i in 1 2 3; do
	for attempt in 1 2 3; do
		p=$(free_port)
		/usr/bin/memcached "${MEMCACHED_USER[@]}" -l 127.0.0.1 -p "$p" -U 0 -t 1 -m 64 -c 16384 >"$WORK/memcached$i.log" 2>&1 &
		mpid=$!
		PIDS+=("$mpid")
		wait_port "$p" "$mpid" "memcached$i" && break
		stop_pid "$mpid"
		((attempt < 3)) || die "memcached$i exited at start: $(tail -n 1 "$WORK/memcached$i.log")"
	done
	MC_PORTS+=("$p")
	MC_PIDS+=("$mpid")
done
SERVERS_JSON=$(printf '"127.0.0.1:%s",' "${MC_PORTS[@]}")
SERVERS_JSON=${SERVERS_JSON%,}
log "memcached on ports ${MC_PORTS[*]}"

# Static vBucket map: vBucket i on server i % 3, no replicas.
MAP=$WORK/map.json
{
	printf '{"rev":1,"name":"default","nodeLocator":"vbucket","vBucketServerMap":{"hashAlgorithm":"CRC","numReplicas":0,'
	printf '"serverList":[%s],"vBucketMap":[' "$SERVERS_JSON"
	for ((v = 0; v < VBUCKETS; v++)); do
		((v > 0)) && printf ','
		printf '[%d]' $((v % 3))
	done
	printf ']}}\n'
} >"$MAP"

# ---- TLS ---------------------------------------------------------------------
# A CA and the TLS listener's certificate for 127.0.0.1, both ECDSA P-256.
TLS_DIR=$WORK/tls
if [[ $TLS == 1 ]]; then
	mkdir -p "$TLS_DIR"
	{
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=bench-compare CA" \
			-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
			-keyout "$TLS_DIR/ca-key.pem" -out "$TLS_DIR/ca.pem" &&
			openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
				-keyout "$TLS_DIR/vbproxy-key.pem" -out "$TLS_DIR/vbproxy.csr" &&
			printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n' >"$TLS_DIR/vbproxy.ext" &&
			openssl x509 -req -in "$TLS_DIR/vbproxy.csr" -CA "$TLS_DIR/ca.pem" -CAkey "$TLS_DIR/ca-key.pem" \
				-set_serial "0x$(openssl rand -hex 8)" -days 2 -sha256 -extfile "$TLS_DIR/vbproxy.ext" -out "$TLS_DIR/vbproxy.pem"
	} >"$WORK/openssl.log" 2>&1 || die "openssl could not make the TLS certificates: $(tail -n 3 "$WORK/openssl.log")"
fi

start_vbproxy() { # name [binary [tls]] -> sets VBP_PORT VBP_PID VBP_ADMIN (and VBP_TLS_PORT with tls)
	local attempt
	for attempt in 1 2 3; do
		try_vbproxy "$@" && return 0
		stop_pid "$VBP_PID"
	done
	die "$1 exited at start: $(tail -n 3 "$WORK/$1.log")"
}

try_vbproxy() {
	local name=$1 bin=${2:-$VBPROXY} tls=${3:-} tls_listener=""
	VBP_PORT=$(free_port)
	VBP_ADMIN=$(free_port)
	VBP_TLS_PORT=""
	if [[ $tls == tls ]]; then
		# A second listener of the same bucket: the same process, loops and
		# upstream connections, with TLS to the clients.
		VBP_TLS_PORT=$(free_port)
		tls_listener="  - address: 127.0.0.1:$VBP_TLS_PORT
    bucket: default
    tls:
      cert_file: $TLS_DIR/vbproxy.pem
      key_file: $TLS_DIR/vbproxy-key.pem"
	fi
	cat >"$WORK/$name.yaml" <<-YAML
		listeners:
		  - address: 127.0.0.1:$VBP_PORT
		    bucket: default
		$tls_listener
		cluster:
		  map_file: $MAP
		upstream:
		  pool_size: $POOL_SIZE
		limits:
		  max_connections: $((IDLE_CONNS + 5000))
		admin:
		  address: 127.0.0.1:$VBP_ADMIN
		  pprof: true
		log:
		  level: warn
	YAML
	"$bin" -check-config "$WORK/$name.yaml" >"$WORK/$name.check.log" 2>&1 ||
		die "$name rejects its config: $(cat "$WORK/$name.check.log")"
	"$bin" -config "$WORK/$name.yaml" >"$WORK/$name.log" 2>&1 &
	VBP_PID=$!
	PIDS+=("$VBP_PID")
	wait_port "$VBP_PORT" "$VBP_PID" "$name" || return 1
	[[ -z $VBP_TLS_PORT ]] || wait_port "$VBP_TLS_PORT" "$VBP_PID" "$name (TLS)" || return 1
	for _ in $(seq 100); do
		curl -fsS -o /dev/null "http://127.0.0.1:$VBP_ADMIN/readyz" 2>/dev/null && return 0
		sleep 0.1
	done
	die "$name not ready (GET /readyz on 127.0.0.1:$VBP_ADMIN)"
}

start_twemproxy() { # name -> sets TW_PORT TW_PID
	local attempt
	for attempt in 1 2 3; do
		try_twemproxy "$1" && return 0
		stop_pid "$TW_PID"
	done
	die "$1 exited at start: $(tail -n 3 "$WORK/$1.log")"
}

try_twemproxy() {
	local name=$1 stats
	TW_PORT=$(free_port)
	stats=$(free_port)
	{
		echo "bench:"
		echo "  listen: 127.0.0.1:$TW_PORT"
		echo "  hash: fnv1a_64"
		echo "  distribution: ketama"
		echo "  timeout: 2500"
		echo "  backlog: 4096"
		echo "  preconnect: true"
		echo "  auto_eject_hosts: false"
		echo "  server_connections: 1"
		echo "  servers:"
		for i in 0 1 2; do echo "   - 127.0.0.1:${MC_PORTS[$i]}:1 mc$i"; done
	} >"$WORK/$name.yml"
	/usr/sbin/nutcracker -t -c "$WORK/$name.yml" >"$WORK/$name.check.log" 2>&1 ||
		die "nutcracker rejects its config: $(cat "$WORK/$name.check.log")"
	/usr/sbin/nutcracker -c "$WORK/$name.yml" -s "$stats" -a 127.0.0.1 -o "$WORK/$name.log" &
	TW_PID=$!
	PIDS+=("$TW_PID")
	wait_port "$TW_PORT" "$TW_PID" "$name" || return 1
	# nutcracker binds the stats port after the proxy port.
	sleep 0.1
	kill -0 "$TW_PID" 2>/dev/null
}

start_vbproxy vbproxy "$VBPROXY" "$([[ $TLS == 1 ]] && echo tls)"
VBP_MAIN_PORT=$VBP_PORT VBP_MAIN_ADMIN=$VBP_ADMIN VBP_MAIN_PID=$VBP_PID VBP_MAIN_TLS_PORT=$VBP_TLS_PORT
start_twemproxy twemproxy
TW_MAIN_PORT=$TW_PORT
declare -A PROXY_PID=([direct]=0 [vbproxy]=$VBP_PID [twemproxy]=$TW_PID)
log "vbproxy on $VBP_MAIN_PORT (admin $VBP_MAIN_ADMIN), twemproxy on $TW_MAIN_PORT"

declare -A ADDR=([direct]=127.0.0.1:${MC_PORTS[0]} [vbproxy]=127.0.0.1:$VBP_MAIN_PORT [twemproxy]=127.0.0.1:$TW_MAIN_PORT)
declare -A PROTO=([direct]=binary [vbproxy]=binary [twemproxy]=ascii)
declare -A PREFIX=([direct]=d: [vbproxy]=v: [twemproxy]=t:)
TARGETS=(direct vbproxy twemproxy)
MC_TARGETS=(direct/binary vbproxy/binary direct/ascii vbproxy/ascii twemproxy/ascii)
# Extra vbbench flags per target (words split on spaces; paths from mktemp).
declare -A VBB_FLAGS=()
if [[ $TLS == 1 ]]; then
	PROXY_PID[vbproxy-tls]=$VBP_MAIN_PID
	ADDR[vbproxy-tls]=127.0.0.1:$VBP_MAIN_TLS_PORT
	PROTO[vbproxy-tls]=binary
	PREFIX[vbproxy-tls]=s:
	VBB_FLAGS[vbproxy-tls]="-tls-ca $TLS_DIR/ca.pem"
	TARGETS+=(vbproxy-tls)
	log "vbproxy TLS listener on $VBP_MAIN_TLS_PORT (target vbproxy-tls)"
fi
if [[ -n $BASELINE_BIN ]]; then
	start_vbproxy vbproxy-baseline "$BASELINE_BIN"
	PROXY_PID[vbproxy-baseline]=$VBP_PID
	ADDR[vbproxy-baseline]=127.0.0.1:$VBP_PORT
	PROTO[vbproxy-baseline]=binary
	PREFIX[vbproxy-baseline]=b:
	TARGETS+=(vbproxy-baseline)
	MC_TARGETS+=(vbproxy-baseline/binary)
	log "baseline $BASELINE_DESC on $VBP_PORT"
fi

# vbbench runs, target/protocol: every target in its own protocol, and vbproxy
# in ASCII as well (the same process and keys, its text front end), so that
# its comparison with twemproxy is also made like for like.
VB_RUNS=()
for t in "${TARGETS[@]}"; do
	VB_RUNS+=("$t/${PROTO[$t]}")
	[[ $t == vbproxy ]] && VB_RUNS+=(vbproxy/ascii)
done

# ---- populate -----------------------------------------------------------------
for t in "${TARGETS[@]}"; do
	read -ra extra <<<"${VBB_FLAGS[$t]:-}"
	out=$(timeout 120 "$VBBENCH" -addr "${ADDR[$t]}" -protocol "${PROTO[$t]}" "${extra[@]}" -conns 16 -pipeline 16 -ops 16 -warmup 0 \
		-keys "$KEYS" -value-size "$VALUE_SIZE" -prefix "${PREFIX[$t]}" -json 2>"$WORK/populate-$t.log") ||
		die "populating $t failed: $(cat "$WORK/populate-$t.log")"
	pop=$(printf '%s' "$out" | grep -o '"populate":{[^}]*}' || true)
	[[ $pop == *'"errors":0'* ]] || die "populating $t had errors: $pop"
	log "populated $t: $KEYS keys"
done

# ---- CPU accounting -------------------------------------------------------------
# cpu_sample PID: "wall-clock seconds, proxy ticks, memcached ticks, machine
# busy ticks" now. PID is the proxy (0: none). Ticks are USER_HZ, from
# /proc/PID/stat (utime + stime) and /proc/stat (user, nice, system, irq,
# softirq of all CPUs).
cpu_sample() {
	local pt=0 mt=0 pid
	[[ $1 != 0 ]] && pt=$(awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0)
	for pid in "${MC_PIDS[@]}"; do
		mt=$((mt + $(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)))
	done
	printf '%s %s %s %s\n' "$(date +%s.%N)" "$pt" "$mt" "$(awk '/^cpu / {print $2 + $3 + $4 + $7 + $8; exit}' /proc/stat)"
}
CLK_TCK=$(getconf CLK_TCK)
# cpu_json SAMPLE0 SAMPLE1: the CPU record of the window between them.
cpu_json() {
	awk -v hz="$CLK_TCK" -v a="$1" -v b="$2" 'BEGIN {
		split(a, x, " "); split(b, y, " ")
		printf "{\"seconds\":%.3f,\"proxy_s\":%.2f,\"memcached_s\":%.2f,\"machine_s\":%.2f}", y[1] - x[1], (y[2] - x[2]) / hz, (y[3] - x[3]) / hz, (y[4] - x[4]) / hz
	}'
}

# ---- rounds -------------------------------------------------------------------
MC_CFG=$WORK/memcaslap.cfg
cat >"$MC_CFG" <<-CFG
	key
	32 32 1
	value
	$VALUE_SIZE $VALUE_SIZE 1
	cmd
	0 $(awk "BEGIN{print 1-$RATIO}")
	1 $RATIO
CFG

run_memcaslap() { # round target proto conns
	local round=$1 t=$2 proto=$3 c=$4 addr=${ADDR[$2]} out tps ops secs misses threads err cpu0 cpu1 flags=()
	[[ $proto == binary ]] && flags=(--binary)
	threads=$((c >= 2 ? 2 : 1))
	out=$WORK/memcaslap-$t-$proto-$c-$round.log
	cpu0=$(cpu_sample "${PROXY_PID[$t]}")
	if timeout $((DURATION + 30)) /usr/bin/memcaslap -s "$addr" -T "$threads" -c "$c" -t "${DURATION}s" -F "$MC_CFG" \
		-w 1k "${flags[@]}" >"$out" 2>&1; then
		read -r secs ops tps < <(awk '/^Run time:/ {gsub("s","",$3); print $3, $5, $7}' "$out" | tail -n 1) || true
		misses=$(awk '/^get_misses:/ {v=$2} END {print v+0}' "$out")
	fi
	cpu1=$(cpu_sample "${PROXY_PID[$t]}")
	if [[ -n ${tps:-} ]]; then
		printf '{"kind":"memcaslap","target":"%s","protocol":"%s","round":%d,"conns":%d,"ops":%d,"ops_per_sec":%s,"seconds":%s,"get_misses":%d,"cpu":%s}\n' \
			"$t" "$proto" "$round" "$c" "$ops" "$tps" "$secs" "$misses" "$(cpu_json "$cpu0" "$cpu1")" >>"$RESULTS"
		log "round $round memcaslap $t/$proto conns=$c: $tps ops/s"
	else
		err="memcaslap failed: $(tail -n 1 "$out")"
		printf '{"kind":"memcaslap","target":"%s","protocol":"%s","round":%d,"conns":%d,"error":%s}\n' \
			"$t" "$proto" "$round" "$c" "$(json_str "$err")" >>"$RESULTS"
		log "round $round memcaslap $t/$proto conns=$c: $err"
	fi
}

run_vbbench() { # round target protocol conns pipeline
	local round=$1 t=$2 proto=$3 c=$4 p=$5 out sampler extra
	read -ra extra <<<"${VBB_FLAGS[$t]:-}"
	# The measured phase starts after the warm-up: sample CPU over it.
	rm -f "$WORK/cpu.window"
	(
		sleep "$WARMUP"
		s0=$(cpu_sample "${PROXY_PID[$t]}")
		sleep "$DURATION"
		printf '%s\n%s\n' "$s0" "$(cpu_sample "${PROXY_PID[$t]}")" >"$WORK/cpu.window"
	) &
	sampler=$!
	if out=$(timeout $((DURATION + 60)) "$VBBENCH" -addr "${ADDR[$t]}" -protocol "$proto" "${extra[@]}" -conns "$c" -pipeline "$p" \
		-duration "${DURATION}s" -warmup "${WARMUP}s" -keys "$KEYS" -value-size "$VALUE_SIZE" -ratio "$RATIO" \
		-prefix "${PREFIX[$t]}" -no-populate -seed "$round" -json 2>"$WORK/vbbench.err.log"); then
		wait "$sampler" || true
		local cpu=""
		if [[ -s $WORK/cpu.window ]]; then
			cpu=",\"cpu\":$(cpu_json "$(sed -n 1p "$WORK/cpu.window")" "$(sed -n 2p "$WORK/cpu.window")")"
		fi
		printf '{"kind":"vbbench","target":"%s","round":%d,"result":%s%s}\n' "$t" "$round" "$out" "$cpu" >>"$RESULTS"
		log "round $round vbbench $t/$proto conns=$c pipeline=$p: $(printf '%s' "$out" | grep -o '"ops_per_sec":[0-9.e+]*' | cut -d: -f2 | awk '{printf "%.0f", $1}') ops/s"
	else
		wait "$sampler" || true
		printf '{"kind":"vbbench","target":"%s","protocol":"%s","round":%d,"conns":%d,"pipeline":%d,"error":%s}\n' \
			"$t" "$proto" "$round" "$c" "$p" "$(json_str "vbbench failed: $(tail -n 1 "$WORK/vbbench.err.log")")" >>"$RESULTS"
		log "round $round vbbench $t/$proto conns=$c pipeline=$p: FAILED $(tail -n 1 "$WORK/vbbench.err.log")"
	fi
}

for ((r = 1; r <= ROUNDS; r++)); do
	for c in $MC_CONNS; do
		for tp in $(rotate $((r - 1)) "${MC_TARGETS[@]}"); do
			run_memcaslap "$r" "${tp%/*}" "${tp#*/}" "$c"
		done
	done
	for p in $PIPELINES; do
		for c in $CONNS; do
			for tp in $(rotate $((r - 1)) "${VB_RUNS[@]}"); do
				run_vbbench "$r" "${tp%/*}" "${tp#*/}" "$c" "$p"
			done
		done
	done
done

# ---- CPU profile of vbproxy under load ---------------------------------------------
PROFILE_NOTE="not taken (BENCH_PROFILE=0)"
if [[ $PROFILE == 1 ]]; then
	log "profiling vbproxy (64 conns, pipeline 16)"
	curl -fsS -o "$RES_DIR/vbproxy-cpu.pprof" "http://127.0.0.1:$VBP_MAIN_ADMIN/debug/pprof/profile?seconds=8" &
	curl_pid=$!
	timeout 60 "$VBBENCH" -addr "${ADDR[vbproxy]}" -conns 64 -pipeline 16 -duration 10s -warmup 0 -keys "$KEYS" \
		-value-size "$VALUE_SIZE" -ratio "$RATIO" -prefix "${PREFIX[vbproxy]}" -no-populate >/dev/null 2>&1 || true
	if wait "$curl_pid" && [[ -s $RES_DIR/vbproxy-cpu.pprof ]]; then
		go tool pprof -top -nodecount=40 "$VBPROXY" "$RES_DIR/vbproxy-cpu.pprof" >"$RES_DIR/vbproxy-cpu.top.txt" 2>/dev/null || true
		PROFILE_NOTE="bench/results/vbproxy-cpu.pprof (8 s under vbbench 64 conns, pipeline 16; top functions in bench/results/vbproxy-cpu.top.txt)"
	else
		PROFILE_NOTE="failed (GET /debug/pprof/profile on the admin port)"
	fi
fi

# ---- memory per idle connection ----------------------------------------------------
measure_idle() { # name pid addr proto touch variant
	local name=$1 pid=$2 addr=$3 proto=$4 touch=$5 variant=$6 before after idle_pid flags=() ready=0
	[[ $touch == 1 ]] && flags=(-touch)
	sleep 1
	before=$(rss_kib "$pid")
	"$VBBENCH" idle -addr "$addr" -protocol "$proto" -conns "$IDLE_CONNS" "${flags[@]}" -hold 300s >"$WORK/idle-$name.out" 2>"$WORK/idle-$name.log" &
	idle_pid=$!
	PIDS+=("$idle_pid")
	for _ in $(seq 1200); do
		if grep -q '^ready' "$WORK/idle-$name.out"; then ready=1; break; fi
		kill -0 "$idle_pid" 2>/dev/null || break
		sleep 0.1
	done
	if [[ $ready == 1 ]]; then
		sleep 2
		after=$(rss_kib "$pid")
		printf '{"kind":"memory","target":"%s","variant":"%s","conns":%d,"rss_before_kib":%d,"rss_after_kib":%d}\n' \
			"${name%%-*}" "$variant" "$IDLE_CONNS" "$before" "$after" >>"$RESULTS"
		log "memory $name: RSS $before KiB -> $after KiB with $IDLE_CONNS idle connections"
	else
		printf '{"kind":"memory","target":"%s","variant":"%s","conns":%d,"error":%s}\n' "${name%%-*}" "$variant" "$IDLE_CONNS" \
			"$(json_str "$(tail -n 1 "$WORK/idle-$name.log")")" >>"$RESULTS"
		log "memory $name: FAILED $(tail -n 1 "$WORK/idle-$name.log")"
	fi
	stop_pid "$idle_pid"
}

# start_proxy KIND NAME: start vbproxy or twemproxy (up to 3 attempts on
# fresh ports); returns 1 instead of dying, so that the report still gets
# written with the failure recorded.
start_proxy() {
	local kind=$1 name=$2 attempt
	for attempt in 1 2 3; do
		if [[ $kind == vbproxy ]]; then
			try_vbproxy "$name" && return 0
			stop_pid "$VBP_PID"
		else
			try_twemproxy "$name" && return 0
			stop_pid "$TW_PID"
		fi
	done
	return 1
}

for variant in connected touched; do
	touch=0 label=connected
	[[ $variant == touched ]] && touch=1 label="after one get"
	for kind in vbproxy twemproxy; do
		name=$kind-mem-$variant
		if ! start_proxy "$kind" "$name"; then
			printf '{"kind":"memory","target":"%s","variant":"%s","conns":%d,"error":%s}\n' "$kind" "$label" "$IDLE_CONNS" \
				"$(json_str "$kind did not start: $(tail -n 1 "$WORK/$name.log")")" >>"$RESULTS"
			log "memory $name: FAILED to start $kind"
			continue
		fi
		if [[ $kind == vbproxy ]]; then
			measure_idle "$name" "$VBP_PID" "127.0.0.1:$VBP_PORT" binary "$touch" "$label"
			stop_pid "$VBP_PID"
		else
			measure_idle "$name" "$TW_PID" "127.0.0.1:$TW_PORT" ascii "$touch" "$label"
			stop_pid "$TW_PID"
		fi
	done
done

# ---- report -------------------------------------------------------------------------
cp "$RESULTS" "$RES_DIR/results.jsonl"
MC_WORKLOAD="memcaslap: 32-byte keys, $VALUE_SIZE-byte values, $(awk "BEGIN{print $RATIO*100}")% gets, key window 1k per connection, ${DURATION} s per run, 2 threads"
VB_WORKLOAD="vbbench: $KEYS keys per target (populated once, distinct prefixes), uniform, $VALUE_SIZE-byte values, $(awk "BEGIN{print $RATIO*100}")% gets, ${WARMUP} s warm-up then ${DURATION} s measured per run"
"$VBBENCH" report -results "$RESULTS" -out "$OUT_MD" -notes-from "$NOTES_FROM" -svg "$RES_DIR/bench-compare.svg" \
	-main-conns "$MAIN_CONNS" -main-pipeline 1 -pipelined 16 \
	-set "mode=$MODE" \
	-set "method=$ROUNDS round(s); in each round every point runs once per target, targets in rotated order, so drift hits all alike." \
	-set "nproc=$(nproc)" \
	-set "cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)" \
	-set "kernel=$(uname -sr)" \
	-set "go=$(go version | awk '{print $3, $4}')" \
	-set "memcached=$(/usr/bin/memcached -V 2>&1 | head -n 1)" \
	-set "nutcracker=$(/usr/sbin/nutcracker -V 2>&1 | head -n 1 | sed 's/^This is //')" \
	-set "memcaslap=$(/usr/bin/memcaslap -V 2>&1 | head -n 1)" \
	-set "vbproxy=$VBPROXY_REV" \
	-set "baseline=$BASELINE_DESC" \
	-set "setup.backends=3 memcached (-t 1, -m 64) on 127.0.0.1; direct access is the first of them" \
	-set "setup.vbproxy=static map of $VBUCKETS vBuckets (vBucket i on server i mod 3), upstream pool_size $POOL_SIZE (twemproxy: server_connections 1), log level warn, pprof on" \
	-set "setup.twemproxy=nutcracker, hash fnv1a_64, distribution ketama, server_connections 1, preconnect; ASCII only" \
	-set "setup.vbproxy-tls=$([[ $TLS == 1 ]] && echo "a second listener of the vbproxy process (same bucket, loops and upstream connections) with TLS: ECDSA P-256 certificate from a CA made by openssl for the run, Go's defaults (TLS 1.3) on both ends; vbbench -tls-ca, connections and handshakes made before measuring; upstream plain" || echo "not run (BENCH_TLS=0)")" \
	-set "setup.workload (memcaslap)=$MC_WORKLOAD" \
	-set "setup.workload (vbbench)=$VB_WORKLOAD" \
	-set "setup.memory=fresh process per measurement, $IDLE_CONNS connections from vbbench idle, VmRSS 1 s after start and 2 s after the last connection" \
	-set "setup.profile=$PROFILE_NOTE" \
	-set "setup.raw results=$( [[ $QUICK == 1 ]] && echo "$RES_DIR/results.jsonl" || echo bench/results/results.jsonl )" \
	>&2 || die "vbbench report failed"
log "wrote $OUT_MD"
