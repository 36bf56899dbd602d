#!/usr/bin/env bash
# latency-floor.sh: what one extra loopback hop costs at 1x1 (one connection,
# one request in flight) on this machine, whatever the proxy. vbbench drives,
# in rotated order per round, one memcached server directly and through:
#   relay      bench/relay/relay.c: the cheapest possible proxy, two threads
#              per connection blocked in read(2), no parsing (built with cc)
#   relay-spin the same relay polling both sockets without sleeping: no
#              wake-up on the proxy's side, a whole core busy
#   vbproxy    this tree's proxy (binary protocol)
#   twemproxy  nutcracker (ASCII, the only protocol it speaks)
# and prints each target's median p50, throughput and proxy CPU per request
# over the rounds, with the p50 as a ratio of direct access's in the same
# round. If relay's ratio is far above 1.1, no proxy that sleeps between
# requests can have a p50 within 10% of direct at 1x1 here: the floor is the
# kernel's wake-up of the threads on each side of the hop; relay-spin shows
# what avoiding those wake-ups costs in CPU.
#
# Environment: ROUNDS (default 5), DURATION (seconds per run, default 3),
# VBPROXY_BIN, VBBENCH_BIN (default: built into a temp dir), RESULTS (a file
# to keep the raw rows in: round, target, ops/s, p50 µs, errors, CPU µs/req).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-3}
for tool in /usr/bin/memcached /usr/sbin/nutcracker cc go python3; do
	command -v "$tool" >/dev/null || { echo "latency-floor: $tool not found (apt-get install memcached nutcracker gcc)" >&2; exit 1; }
done
# shellcheck source=lib/one-node.sh
source scripts/lib/one-node.sh
start_one_node
cc -O2 -pthread -o "$WORK/relay" bench/relay/relay.c
RELAY=$(free_port)
"$WORK/relay" "$RELAY" "$MC" &
RELAY_PID=$!
PIDS+=("$RELAY_PID")
SPIN=$(free_port)
"$WORK/relay" "$SPIN" "$MC" spin &
SPIN_PID=$!
PIDS+=("$SPIN_PID")
wait_port "$RELAY" && wait_port "$SPIN"

declare -A ADDR=([direct]=127.0.0.1:$MC [relay]=127.0.0.1:$RELAY [relay-spin]=127.0.0.1:$SPIN [vbproxy]=127.0.0.1:$VBP [twemproxy]=127.0.0.1:$TW)
declare -A PROTO=([direct]=binary [relay]=binary [relay-spin]=binary [vbproxy]=binary [twemproxy]=ascii)
declare -A PID=([direct]="" [relay]=$RELAY_PID [relay-spin]=$SPIN_PID [vbproxy]=$VBP_PID [twemproxy]=$TW_PID)
TARGETS=(direct relay relay-spin vbproxy twemproxy)
# cpu_ticks PID: the process's user plus system time, in clock ticks (0 for
# no process: direct access). A proxy that has exited fails the run.
cpu_ticks() {
	if [[ -z $1 ]]; then
		echo 0
	else
		awk '{print $14 + $15}' "/proc/$1/stat"
	fi
}
for t in "${TARGETS[@]}"; do
	# Populate each target's keys through it once (the ASCII and binary keys are the same).
	"$VBBENCH" run -addr "${ADDR[$t]}" -protocol "${PROTO[$t]}" -keys 10000 -conns 4 -ops 100 -warmup 0s >/dev/null
done
: >"$WORK/results"
for r in $(seq "$ROUNDS"); do
	n=${#TARGETS[@]}
	for i in $(seq 0 $((n - 1))); do
		t=${TARGETS[$(((i + r) % n))]}
		# CPU is sampled over the measured phase, after the 1 s warm-up.
		(sleep 1; a=$(cpu_ticks "${PID[$t]}"); sleep "$DURATION"; echo "$a $(cpu_ticks "${PID[$t]}")" >"$WORK/cpu") &
		sampler=$!
		"$VBBENCH" run -addr "${ADDR[$t]}" -protocol "${PROTO[$t]}" -conns 1 -pipeline 1 -keys 10000 \
			-no-populate -warmup 1s -duration "${DURATION}s" -seed "$r" -json >"$WORK/out.json"
		wait "$sampler"
		read -r c0 c1 <"$WORK/cpu"
		python3 -c 'import json,sys; d=json.load(open(sys.argv[3])); print(sys.argv[1], sys.argv[2], d["ops_per_sec"], d["latency_us"]["p50"], d["errors"], (int(sys.argv[5])-int(sys.argv[4]))*1e6/int(sys.argv[6])/max(d["ops"],1))' \
			"$r" "$t" "$WORK/out.json" "$c0" "$c1" "$(getconf CLK_TCK)" >>"$WORK/results"
	done
done
[[ -n ${RESULTS:-} ]] && cp "$WORK/results" "$RESULTS"
python3 - "$WORK/results" "$ROUNDS" "${TARGETS[@]}" <<'PY'
import sys, statistics
rows = [l.split() for l in open(sys.argv[1])]
by = {}
for r, t, ops, p50, errs, cpu in rows:
    by.setdefault(t, {})[int(r)] = (float(ops), float(p50), int(errs), float(cpu))
direct = by["direct"]
print(f"{sys.argv[2]} rounds, vbbench 1x1, targets in rotated order per round; p50 ratio = target / direct in the same round\n")
print("| target | ops/s (median) | p50 µs (median) | p50 µs (min-max) | p50 / direct (median) | p50 / direct (min-max) | proxy CPU µs/req (median) | errors |")
print("|---|---:|---:|---|---:|---|---:|---:|")
for t in sys.argv[3:]:
    v = by[t]
    ops = statistics.median(x[0] for x in v.values())
    p50s = [x[1] for x in v.values()]
    ratios = [v[r][1] / direct[r][1] for r in v]
    cpu = "" if t == "direct" else "%.1f" % statistics.median(x[3] for x in v.values())
    print(f"| {t} | {ops:,.0f} | {statistics.median(p50s):.1f} | {min(p50s):.1f}-{max(p50s):.1f} | {statistics.median(ratios):.2f} | {min(ratios):.2f}-{max(ratios):.2f} | {cpu} | {sum(x[2] for x in v.values())} |")
PY
