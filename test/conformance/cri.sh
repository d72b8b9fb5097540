#!/usr/bin/env bash
# cri.sh - run critest (the Kubernetes CRI validation suite, through the
# project's shared harness critest.sh) against `hako daemon`'s CRI.
#
#   test/conformance/cri.sh [bin/hako]        # last line: N passed, M failed, K skipped
#   CRITEST_ARGS='-ginkgo.focus=Image' test/conformance/cri.sh
#
# hako runs in a network namespace of its own (plus a private IPC
# namespace), with private --root/--runroot, a bridge+portmap CNI network
# on a bridge and subnet of its own inside that namespace, and a registry
# hosts dir that critest.sh fills; the registry, the pushes and critest run
# in the same namespaces. On exit every pod is removed, the daemon stopped
# by its PID, leftover mounts under its dirs unmounted and the namespace
# and dirs deleted. Nothing is configured in the host's network namespace.
#
# Environment: those of critest.sh (CRITEST_WORK, CRITEST_ARGS, ...) and
#   CRITEST_SH   the harness (default /work/shared/conformance/critest.sh, or
#                critest.sh beside this file)
#   HAKO_NETNS   namespace name (default critest-hako)
#   HAKO_SUBNET  pod subnet (default 10.89.0.0/16, only inside the namespace)
#   CNI_BIN_DIR  (default /usr/lib/cni, Debian's containernetworking-plugins)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
HAKO=$(readlink -f "${1:-$here/../../bin/hako}")
CRITEST_SH=${CRITEST_SH:-}
if [[ -z $CRITEST_SH ]]; then
	for c in "$here/critest.sh" /work/shared/conformance/critest.sh; do
		[[ -x $c ]] && CRITEST_SH=$c && break
	done
fi
[[ -n $CRITEST_SH ]] || { echo "cri.sh: critest.sh not found (set CRITEST_SH)" >&2; exit 2; }
export CRITEST_WORK=${CRITEST_WORK:-/var/tmp/critest-work}
NETNS=${HAKO_NETNS:-critest-hako}
SUBNET=${HAKO_SUBNET:-10.89.0.0/16}
CNI_BIN_DIR=${CNI_BIN_DIR:-/usr/lib/cni}
BASE=$(mktemp -d /var/tmp/hako-critest.XXXXXX)
ROOT=$BASE/root RUNROOT=$BASE/run ETC=$BASE/etc
SOCK=$RUNROOT/cri.sock
PID=""
log() { printf '[cri.sh] %s\n' "$*" >&2; }

crictl_() { "$CRITEST_WORK/bin/crictl" --runtime-endpoint "unix://$SOCK" --image-endpoint "unix://$SOCK" --timeout 60s "$@"; }

teardown() {
	if [[ -n $PID ]] && kill -0 "$PID" 2>/dev/null; then
		crictl_ rmp -fa >/dev/null 2>&1 || true
		crictl_ rm -fa >/dev/null 2>&1 || true
		kill -TERM "$PID" 2>/dev/null || true
		for _ in $(seq 1 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.2; done
		kill -KILL "$PID" 2>/dev/null || true
		wait "$PID" 2>/dev/null || true
	fi
	# the container monitor outlives the daemon by design: stop ours by its pid file
	if [[ -f $RUNROOT/monitor/monitor.pid ]]; then
		local mp
		mp=$(cat "$RUNROOT/monitor/monitor.pid")
		[[ -n $mp ]] && kill -KILL "$mp" 2>/dev/null || true
	fi
	awk -v p="$BASE/" 'index($5, p) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
		while read -r m; do umount -l "$m" 2>/dev/null || true; done
	ip netns del "$NETNS" 2>/dev/null || true
	# the containers' parent cgroups, once empty (rmdir fails on one in use)
	for cg in /sys/fs/cgroup/*/hako /sys/fs/cgroup/unified/hako; do
		[[ -d $cg ]] && rmdir "$cg" 2>/dev/null || true
	done
	if [[ -f $ETC/hako.log && -n ${RUN_DIR:-} ]]; then cp "$ETC/hako.log" "$RUN_DIR/" 2>/dev/null || true; fi
	rm -rf "$BASE"
}
trap teardown EXIT
trap 'exit 130' INT TERM

"$CRITEST_SH" build
mkdir -p "$ROOT" "$RUNROOT" "$ETC/net.d" "$ETC/hosts.d"
cat >"$ETC/net.d/10-hako-critest.conflist" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "hako-critest",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni-hako0",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{ "subnet": "$SUBNET" }]],
        "routes": [{ "dst": "0.0.0.0/0" }],
        "dataDir": "$RUNROOT/cni-ipam"
      }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
JSON
ip netns add "$NETNS"
ip -n "$NETNS" link set lo up
log "starting hako in netns $NETNS (log: $ETC/hako.log)"
nsenter --net="/run/netns/$NETNS" -- unshare --ipc -- \
	"$HAKO" daemon --root "$ROOT" --runroot "$RUNROOT" --bridge hako-crit0 \
	--cri-socket "$SOCK" --cni-conf-dir "$ETC/net.d" --cni-bin-dir "$CNI_BIN_DIR" \
	--registry-hosts-dir "$ETC/hosts.d" ${HAKO_DAEMON_ARGS:-} >"$ETC/hako.log" 2>&1 &
PID=$!
for _ in $(seq 1 100); do
	crictl_ version >/dev/null 2>&1 && break
	kill -0 "$PID" 2>/dev/null || { log "hako exited: $(tail -20 "$ETC/hako.log")"; exit 2; }
	sleep 0.2
done
RUN_DIR=${CRITEST_REPORT_DIR:-$CRITEST_WORK/runs/hako-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$RUN_DIR"
export CRITEST_REPORT_DIR=$RUN_DIR
ENDPOINT="unix://$SOCK" REGISTRY_HOSTS_DIR="$ETC/hosts.d" CRITEST_NS_PID=$PID "$CRITEST_SH"
