#!/usr/bin/env bash
# bench/network.sh: what hako's bridge networking costs, in one run.
#
#   sudo bench/network.sh      # BENCH_RUNS=20 BENCH_IPERF_SECS=5 BENCH_IPERF_ROUNDS=3
#
# 1. Container start: `hako run --rm busybox true` on the default bridge
#    network (veth pair, address, nftables rules, /etc/hosts) beside
#    `--network none` (a network namespace with only lo), and crun running
#    /bin/true in a bundle with a new network namespace (no interfaces), as
#    the floor. Medians from hyperfine.
# 2. TCP throughput container -> container over hako's bridge, beside the
#    same topology made by hand (two network namespaces, a veth pair each,
#    one bridge, no firewall rules): iperf3 (Debian's) runs from the host
#    inside each network namespace (nsenter), so the image needs no iperf3.
#    Rounds alternate between the two; the medians and their ratio are
#    printed. Goal: hako >= 90% of the hand-made pair.
#
# Everything lives under one mktemp dir and a private mount namespace: a
# hako daemon of its own (--root/--runroot there, its own bridge hkbn0),
# crun's state, and the hand-made namespaces (hkbnA, hkbnB, bridge hkbnbr,
# 10.231.77.0/24). All traffic stays between namespaces this script made.
# Everything is removed at exit. A benchmark, never a test: record results
# in bench/RESULTS.md.
set -euo pipefail
SELF="$(readlink -f "${BASH_SOURCE[0]}")"
cd "$(dirname "$SELF")/.."
export PATH="$PATH:/usr/local/go/bin"
[ "$(id -u)" = 0 ] || { echo "network.sh: must run as root" >&2; exit 2; }

if [ -z "${_NETWORK_BENCH_INNER:-}" ]; then
	hack/deps.sh
	command -v iperf3 >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iperf3 >/dev/null
	CGO_ENABLED=0 GOEXPERIMENT=jsonv2 go build -o bin/hako ./cmd/hako
	exec unshare --mount --propagation private env _NETWORK_BENCH_INNER=1 bash "$SELF" "$@"
fi

RUNS="${BENCH_RUNS:-20}"
SECS="${BENCH_IPERF_SECS:-5}"
ROUNDS="${BENCH_IPERF_ROUNDS:-3}"
log() { echo "network.sh: $*" >&2; }

# crun 1.8 refuses the hybrid cgroup layout; hide cgroup2 in this namespace
if [ "$(stat -f -c %T /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2fs ]; then umount /sys/fs/cgroup/unified; fi

W="$(mktemp -d /var/tmp/hako-bench-network.XXXXXX)"
HAKO_PID="" MON_PID="" IPERF_PIDS=()
H="$PWD/bin/hako -H unix://$W/hako/run/hako.sock"
alive_ours() { [ -n "$1" ] && [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -qF "$W"; }
cleanup() {
	set +e
	local p i
	for p in "${IPERF_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	if [ -n "$HAKO_PID" ]; then
		$H ps -aq 2>/dev/null | xargs -r $H rm -f >/dev/null 2>&1
		[ -r "$W/hako/run/monitor/monitor.pid" ] && MON_PID="$(cat "$W/hako/run/monitor/monitor.pid")"
		for p in "$HAKO_PID" "$MON_PID"; do
			alive_ours "$p" || continue
			kill "$p"
			for i in $(seq 100); do alive_ours "$p" || break; sleep 0.1; done
			alive_ours "$p" && kill -9 "$p"
		done
	fi
	crun --root "$W/crun" delete -f hkbn-crun >/dev/null 2>&1
	ip netns del hkbnA 2>/dev/null
	ip netns del hkbnB 2>/dev/null
	ip link del hkbnbr 2>/dev/null
	ip link del hkbn0 2>/dev/null
	awk -v w="$W" 'index($5, w) == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m"; done
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------ set-up -----
mkdir -p "$W/rootfs"/{bin,dev,proc,sys,etc,tmp,root} "$W/hako" "$W/bundle" "$W/res"
cp /bin/busybox "$W/rootfs/bin/busybox"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$W/rootfs/bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$W/rootfs/etc/passwd"
printf 'root:x:0:\n' >"$W/rootfs/etc/group"
tar --numeric-owner --owner=0 --group=0 -C "$W/rootfs" -cf "$W/rootfs.tar" .

setsid "$PWD/bin/hako" daemon --root "$W/hako/root" --runroot "$W/hako/run" --bridge hkbn0 >"$W/hako/daemon.log" 2>&1 </dev/null &
HAKO_PID=$!
for _ in $(seq 100); do $H version >/dev/null 2>&1 && break; sleep 0.1; done
$H import -c 'CMD ["sh"]' "$W/rootfs.tar" busybox >/dev/null
$H run --rm busybox true

(cd "$W/bundle" && crun spec)
jq --arg root "$W/rootfs" '.process.terminal = false | .process.args = ["/bin/true"] | .root.path = $root
	| .linux.namespaces |= (map(select(.type != "network")) + [{"type": "network"}])' \
	"$W/bundle/config.json" >"$W/bundle/c.json" && mv "$W/bundle/c.json" "$W/bundle/config.json"

# ------------------------------------------------------ start latency -----
declare -A MED
hf() { # key cmd...
	local key="$1"; shift
	hyperfine -N --style none --warmup 3 --runs "$RUNS" --export-json "$W/res/$key.json" "$*" >/dev/null
	MED[$key]="$(jq -r '.results[0].median * 1000' "$W/res/$key.json")"
}
log "start latency ($RUNS runs each)"
hf crun crun --root "$W/crun" run --bundle "$W/bundle" hkbn-crun
hf none $H run --rm --network none busybox true
hf bridge $H run --rm busybox true

# --------------------------------------------------------- throughput -----
# hako: two containers on the default bridge
c1="$($H run -d busybox sleep 100000)"
c2="$($H run -d busybox sleep 100000)"
p1="$($H inspect -f '{{.State.Pid}}' "$c1")"
p2="$($H inspect -f '{{.State.Pid}}' "$c2")"
ip1="$($H inspect -f '{{.NetworkSettings.IPAddress}}' "$c1")"
# by hand: the same topology, no firewall
ip netns add hkbnA
ip netns add hkbnB
ip link add hkbnbr type bridge
ip link set hkbnbr up
for n in A B; do
	ip link add "hkbn${n}h" type veth peer name eth0 netns "hkbn$n"
	ip link set "hkbn${n}h" master hkbnbr up
	ip -n "hkbn$n" link set lo up
	ip -n "hkbn$n" link set eth0 up
done
ip -n hkbnA addr add 10.231.77.2/24 dev eth0
ip -n hkbnB addr add 10.231.77.3/24 dev eth0

iperf() { # server-netns-file client-netns-file server-ip -> Gbit/s, or FAIL
	nsenter --net="$1" iperf3 -s -1 -p 5301 >/dev/null 2>&1 &
	local sp=$! bps
	IPERF_PIDS+=("$sp")
	for _ in $(seq 100); do
		nsenter --net="$1" ss -Hltn 'sport = :5301' | grep -q . && break
		sleep 0.05
	done
	nsenter --net="$2" iperf3 -c "$3" -p 5301 -t "$SECS" -J >"$W/res/iperf.json" 2>&1 || true
	kill "$sp" 2>/dev/null || true
	wait "$sp" 2>/dev/null || true
	bps="$(jq -r '.end.sum_received.bits_per_second // empty' "$W/res/iperf.json" 2>/dev/null || true)"
	if [ -z "$bps" ]; then
		log "iperf3 to $3 failed: $(jq -r '.error // empty' "$W/res/iperf.json" 2>/dev/null || tail -1 "$W/res/iperf.json")"
		echo FAIL
		return
	fi
	awk -v b="$bps" 'BEGIN { printf "%.2f", b / 1e9 }'
}
HK=() HM=()
for r in $(seq "$ROUNDS"); do
	log "throughput round $r/$ROUNDS (${SECS}s each)"
	HK+=("$(iperf "/proc/$p1/ns/net" "/proc/$p2/ns/net" "$ip1")")
	HM+=("$(iperf /run/netns/hkbnA /run/netns/hkbnB 10.231.77.2)")
done
median() { printf '%s\n' "$@" | grep -v FAIL | sort -g | awk '{a[NR]=$1} END {if (NR == 0) print "FAIL"; else if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
mk="$(median "${HK[@]}")"
mm="$(median "${HM[@]}")"

# ------------------------------------------------------------ report -----
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a == a + 0) printf "%.2f", a / b; else print "-" }'; }
echo "# bench/network.sh $(date -u +%Y-%m-%dT%H:%MZ) on $(uname -r), $(nproc) CPUs; load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# hako $("$PWD/bin/hako" --version | awk '{print $3}') ($(git log -1 --format=%h 2>/dev/null || echo '?')), crun $(crun --version | head -1 | awk '{print $3}'), iperf3 $(iperf3 --version | head -1 | awk '{print $2}')"
echo
echo "| start | median ms | vs crun + netns |"
echo "|---|---:|---:|"
printf '| crun run, new netns (no interfaces) | %.1f | 1.00x |\n' "${MED[crun]}"
printf '| hako run --rm --network none | %.1f | %sx |\n' "${MED[none]}" "$(ratio "${MED[none]}" "${MED[crun]}")"
printf '| hako run --rm (default bridge) | %.1f | %sx |\n' "${MED[bridge]}" "$(ratio "${MED[bridge]}" "${MED[crun]}")"
echo
echo "| TCP container -> container, iperf3 ${SECS}s x $ROUNDS | median Gbit/s | runs | vs by hand |"
echo "|---|---:|---|---:|"
echo "| veth pair + bridge made by hand | $mm | ${HM[*]} | 1.00 |"
echo "| hako default bridge network | $mk | ${HK[*]} | $(ratio "$mk" "$mm") |"
