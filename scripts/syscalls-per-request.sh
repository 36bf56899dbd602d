#!/usr/bin/env bash
# syscalls-per-request.sh: where a request's cost goes, in counts that do not
# depend on how busy the machine is: system calls (by kind) and context
# switches per request of vbproxy and of twemproxy (nutcracker), each in front
# of the same memcached server, driven by vbbench at 1x1 and 16x1 (connections x
# pipeline). perf stat counts the proxy process only, for DURATION seconds of
# load after a warm-up. Prints a Markdown table for docs/performance.md.
#
# Environment: VBPROXY_BIN, VBBENCH_BIN (default: built into a temp dir),
# DURATION (default 5), POINTS (default "1x1 16x1").
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
DURATION=${DURATION:-5}
POINTS=${POINTS:-"1x1 16x1"}
for tool in /usr/bin/memcached /usr/sbin/nutcracker perf go; do
	command -v "$tool" >/dev/null || { echo "syscalls-per-request: $tool not found (apt-get install memcached nutcracker linux-perf)" >&2; exit 1; }
done
# shellcheck source=lib/one-node.sh
source scripts/lib/one-node.sh
start_one_node

measure() { # name pid addr protocol conns pipeline
	local name=$1 pid=$2 addr=$3 proto=$4 conns=$5 pipe=$6
	"$VBBENCH" run -addr "$addr" -protocol "$proto" -conns "$conns" -pipeline "$pipe" -keys 10000 \
		-warmup 1s -duration "$((DURATION + 2))s" >"$WORK/bench-$name.out" 2>&1 &
	local b=$!
	sleep 1.5
	perf stat -x, -p "$pid" -e context-switches,raw_syscalls:sys_enter,syscalls:sys_enter_read,syscalls:sys_enter_write,syscalls:sys_enter_readv,syscalls:sys_enter_writev,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_epoll_pwait,syscalls:sys_enter_epoll_ctl,syscalls:sys_enter_futex,syscalls:sys_enter_recvfrom,syscalls:sys_enter_sendto \
		-o "$WORK/perf-$name.csv" -- sleep "$DURATION"
	wait "$b"
	local ops
	ops=$(awk '/^throughput/ {print $2}' "$WORK/bench-$name.out")
	python3 - "$name" "$ops" "$WORK/perf-$name.csv" <<'PY'
import sys, csv
name, ops_per_s, path = sys.argv[1], float(sys.argv[2]), sys.argv[3]
import os
dur = float(os.environ.get("DURATION", "5"))
c = {}
for row in csv.reader(open(path)):
    if len(row) < 3 or not row[0].strip() or row[0].startswith("#"):
        continue
    try:
        c[row[2].split(":")[-1]] = float(row[0])
    except ValueError:
        pass
reqs = ops_per_s * dur
g = lambda k: c.get(k, 0.0) / reqs
rw = g("sys_enter_read") + g("sys_enter_recvfrom") + g("sys_enter_readv")
wr = g("sys_enter_write") + g("sys_enter_sendto") + g("sys_enter_writev")
ep = g("sys_enter_epoll_wait") + g("sys_enter_epoll_pwait")
print(f"| {name} | {ops_per_s:,.0f} | {g('sys_enter'):.2f} | {rw:.2f} | {wr:.2f} | {ep:.2f} | {g('sys_enter_epoll_ctl'):.2f} | {g('sys_enter_futex'):.2f} | {g('context-switches'):.2f} |")
PY
}
echo "| target, point | ops/s | syscalls/req | reads | writes | epoll_wait | epoll_ctl | futex | context switches/req |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for p in $POINTS; do
	c=${p%x*} d=${p#*x}
	measure "vbproxy $p" "$VBP_PID" "127.0.0.1:$VBP" binary "$c" "$d"
	measure "twemproxy $p" "$TW_PID" "127.0.0.1:$TW" ascii "$c" "$d"
done
