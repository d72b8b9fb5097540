#!/usr/bin/env bash
# bench/cri.sh: what kubelet waits for when it starts a pod, hako beside
# containerd (Debian's, with runc), in one run: RunPodSandbox,
# CreateContainer and StartContainer latency (medians), through the CRI
# gRPC API (bench/cri/main.go), each pod removed untimed before the next.
# Goal: hako <= 0.5x containerd on the sum.
#
#   sudo bench/cri.sh        # BENCH_RUNS=20 BENCH_ROUNDS=2
#
# Both engines run in one network namespace of the script's own, each with
# its own root, state dir, socket and CNI bridge network (bridge +
# host-local, 10.231.90.0/24 for hako, 10.231.91.0/24 for containerd), in a
# private mount namespace. containerd gets a busybox image and a pause
# image (busybox sleeping) imported from a docker-archive that hako saves;
# hako needs no pause image (hako itself is the pause process). Rounds
# alternate between the engines. Everything is removed at exit. A
# benchmark, never a test: record results in bench/RESULTS.md.
set -euo pipefail
SELF="$(readlink -f "${BASH_SOURCE[0]}")"
cd "$(dirname "$SELF")/.."
export PATH="$PATH:/usr/local/go/bin"
[ "$(id -u)" = 0 ] || { echo "cri.sh: must run as root" >&2; exit 2; }

if [ -z "${_CRI_BENCH_INNER:-}" ]; then
	hack/deps.sh
	need=()
	command -v containerd >/dev/null || need+=(containerd)
	[ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
	[ ${#need[@]} -eq 0 ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
	export CGO_ENABLED=0 GOEXPERIMENT=jsonv2
	go build -o bin/hako ./cmd/hako
	go build -o bin/cri-bench ./bench/cri
	exec unshare --mount --propagation private env _CRI_BENCH_INNER=1 bash "$SELF" "$@"
fi

RUNS="${BENCH_RUNS:-20}"
ROUNDS="${BENCH_ROUNDS:-2}"
log() { echo "cri.sh: $*" >&2; }

W="$(mktemp -d /var/tmp/hako-bench-cri.XXXXXX)"
NETNS="hkbcri$$"
HAKO_PID="" CTRD_PID=""
H="$PWD/bin/hako -H unix://$W/hako/run/hako.sock"
alive_ours() { [ -n "$1" ] && [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -qF "$W"; }
stop_pid() { # pid seconds
	alive_ours "$1" || return 0
	kill "$1" 2>/dev/null || true
	for _ in $(seq $(($2 * 10))); do alive_ours "$1" || return 0; sleep 0.1; done
	kill -9 "$1" 2>/dev/null || true
}
cleanup() {
	set +e
	local f p
	if [ -n "$HAKO_PID" ]; then
		$H ps -aq 2>/dev/null | xargs -r $H rm -f >/dev/null 2>&1
		stop_pid "$HAKO_PID" 10
		[ -r "$W/hako/run/monitor/monitor.pid" ] && stop_pid "$(cat "$W/hako/run/monitor/monitor.pid")" 5
	fi
	if [ -n "$CTRD_PID" ]; then
		for f in "$W"/ctrd/state/io.containerd.runtime.v2.task/*/*/shim.pid; do
			[ -r "$f" ] && p="$(cat "$f")" && kill -9 "$p" 2>/dev/null
		done
		stop_pid "$CTRD_PID" 10
		for f in "$W"/ctrd/state/io.containerd.runtime.v2.task/*/*/init.pid; do
			[ -r "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null
		done
	fi
	awk -v w="$W" 'index($5, w) == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m"; done
	ip netns del "$NETNS" 2>/dev/null
	for d in /sys/fs/cgroup/*/k8s.io /sys/fs/cgroup/*/hako; do
		[ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
	done
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------ set-up -----
mkdir -p "$W"/{rootfs/bin,rootfs/etc,rootfs/tmp,hako/net.d,ctrd/net.d,logs}
cp /bin/busybox "$W/rootfs/bin/busybox"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$W/rootfs/bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$W/rootfs/etc/passwd"
printf 'root:x:0:\n' >"$W/rootfs/etc/group"
tar --numeric-owner --owner=0 --group=0 -C "$W/rootfs" -cf "$W/rootfs.tar" .

cni() { # name bridge subnet dir
	cat >"$4/10-$1.conflist" <<EOF
{ "cniVersion": "1.0.0", "name": "$1", "plugins": [
  { "type": "bridge", "bridge": "$2", "isGateway": true, "ipMasq": false,
    "ipam": { "type": "host-local", "ranges": [[{ "subnet": "$3" }]], "dataDir": "$4/../ipam" } } ] }
EOF
}
cni hako-bench hkbcri-h 10.231.90.0/24 "$W/hako/net.d"
cni ctrd-bench hkbcri-c 10.231.91.0/24 "$W/ctrd/net.d"
ip netns add "$NETNS"
ip -n "$NETNS" link set lo up
# (nsenter execs what it runs, so $! is the daemon's own pid)
nsenter --net="/run/netns/$NETNS" -- "$PWD/bin/hako" daemon --root "$W/hako/root" --runroot "$W/hako/run" --bridge hkbcri0 \
	--cri-socket "$W/hako/cri.sock" --cni-conf-dir "$W/hako/net.d" --cni-bin-dir /usr/lib/cni \
	>"$W/hako/daemon.log" 2>&1 </dev/null &
HAKO_PID=$!
for _ in $(seq 100); do $H version >/dev/null 2>&1 && [ -S "$W/hako/cri.sock" ] && break; sleep 0.1; done
$H import -c 'CMD ["sh"]' "$W/rootfs.tar" hako.bench/busybox:1 >/dev/null
$H import -c 'CMD ["/bin/sleep", "2147483647"]' "$W/rootfs.tar" hako.bench/pause:1 >/dev/null
$H save -o "$W/images.tar" hako.bench/busybox:1 hako.bench/pause:1

# root here lacks CAP_SYS_RESOURCE: containerd must not lower oom_score_adj
restrict=false
(($((16#$(awk '/^CapEff:/ { print $2 }' /proc/self/status))) & (1 << 24))) || restrict=true
cat >"$W/ctrd/config.toml" <<EOF
version = 2
root = "$W/ctrd/root"
state = "$W/ctrd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$W/ctrd/ctrd.sock"
[ttrpc]
  address = "$W/ctrd/ctrd.sock.ttrpc"
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$W/ctrd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "hako.bench/pause:1"
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  restrict_oom_score_adj = $restrict
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "$(command -v runc)"
        Root = "$W/ctrd/state/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$W/ctrd/net.d"
    max_conf_num = 1
EOF
nsenter --net="/run/netns/$NETNS" -- containerd --config "$W/ctrd/config.toml" >"$W/ctrd/containerd.log" 2>&1 </dev/null &
CTRD_PID=$!
for _ in $(seq 100); do [ -S "$W/ctrd/ctrd.sock" ] && ctr -a "$W/ctrd/ctrd.sock" version >/dev/null 2>&1 && break; sleep 0.1; done
ctr -a "$W/ctrd/ctrd.sock" -n k8s.io images import "$W/images.tar" >/dev/null

# ------------------------------------------------------------ measure ----
declare -A SUM
for r in $(seq "$ROUNDS"); do
	for e in hako containerd; do
		case $e in
		hako) ep="unix://$W/hako/cri.sock" ;;
		containerd) ep="unix://$W/ctrd/ctrd.sock" ;;
		esac
		log "round $r/$ROUNDS: $e ($RUNS runs)"
		line="$(bin/cri-bench -endpoint "$ep" -image hako.bench/busybox:1 -runs "$RUNS" -log-dir "$W/logs")"
		SUM[$e]="${SUM[$e]:-}$line"$'\n'
	done
done

# ------------------------------------------------------------ report -----
med() { # engine column -> median over rounds
	printf '%s' "${SUM[$1]}" | awk -v c="$2" 'NF {print $c}' | sort -g |
		awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
echo "# bench/cri.sh $(date -u +%Y-%m-%dT%H:%MZ) on $(uname -r), $(nproc) CPUs; load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# hako $("$PWD/bin/hako" --version | awk '{print $3}') ($(git log -1 --format=%h 2>/dev/null || echo '?')), containerd $(containerd --version | awk '{print $3}') with runc $(runc --version | head -1 | awk '{print $3}'); $RUNS runs x $ROUNDS rounds, medians of the rounds' medians"
echo
echo "| call, median ms | hako | containerd | hako/containerd |"
echo "|---|---:|---:|---:|"
i=1
for call in RunPodSandbox CreateContainer StartContainer "sum of the three"; do
	a="$(med hako $i)" b="$(med containerd $i)"
	echo "| $call | $a | $b | $(ratio "$a" "$b")x |"
	i=$((i + 1))
done
echo
echo "failed runs: hako $(printf '%s' "${SUM[hako]}" | awk 'NF {s+=$5} END {print s+0}'), containerd $(printf '%s' "${SUM[containerd]}" | awk 'NF {s+=$5} END {print s+0}')"
