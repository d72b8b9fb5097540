#!/usr/bin/env bash
# kubelet.sh - a real kubelet (standalone: no API server) runs a static pod
# on hako's CRI: two containers that share an emptyDir volume and the pod's
# network namespace, one of which crashes and is restarted by the kubelet,
# with their output in the CRI log files under /var/log/pods.
#
#   test/conformance/kubelet.sh                # the whole thing (below)
#   MIRROR_HOOK=test/conformance/kubelet.sh CRITEST_ARGS='-ginkgo.focus=none-the-kubelet-is-the-test' test/conformance/cri.sh
#
# Run without ENDPOINT, it does the second line: test/conformance/cri.sh
# starts hako in a network namespace of its own and critest.sh fills a
# local registry with critest's stand-in images (busybox among them) and
# mirrors registry.k8s.io to it; this script then runs as its MIRROR_HOOK
# with ENDPOINT and CRITEST_NS_PID set, and the kubelet runs in hako's
# network and IPC namespaces.
#
# The kubelet is built once from the Go module proxy (about 11 minutes on 2
# cores) by the shared kubelet-smoke.sh, whose set-up this follows: the
# sysctls the kubelet insists on are files bind-mounted over /proc/sys in a
# private mount namespace (the host's are never changed); the kubelet's
# dir, its kubepods cgroups, the pod's /var/log/pods entries and the
# /var/lib/kubelet it makes whatever its --root-dir (unless it was there) are removed
# at exit, and the kubelet is stopped by its PID after it has removed its
# pod. Prints "kubelet: N passed, M failed" last.
#
# Environment: KUBELET_VERSION (v1.36.1), CRITEST_WORK (/var/tmp/critest-work),
#   KUBELET_IMAGE (registry.k8s.io/e2e-test-images/busybox:1.29-2),
#   KUBELET_DIR (/var/lib/hako-kubelet-test), KUBELET_SMOKE (the shared script).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export CRITEST_WORK=${CRITEST_WORK:-/var/tmp/critest-work}
KUBELET_VERSION=${KUBELET_VERSION:-v1.36.1}
KUBELET_IMAGE=${KUBELET_IMAGE:-registry.k8s.io/e2e-test-images/busybox:1.29-2}
KUBELET_DIR=${KUBELET_DIR:-/var/lib/hako-kubelet-test}
KUBELET_SMOKE=${KUBELET_SMOKE:-/work/shared/conformance/kubelet-smoke.sh}
KBIN=$CRITEST_WORK/kubelet/$KUBELET_VERSION/kubelet

log() { printf '[kubelet.sh] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 2; }

if [[ -z ${ENDPOINT:-} ]]; then
	[[ -x $KBIN ]] || KUBELET_VERSION=$KUBELET_VERSION "$KUBELET_SMOKE" build
	out=$(mktemp)
	trap 'rm -f "$out"' EXIT
	MIRROR_HOOK="$here/kubelet.sh" CRITEST_ARGS='-ginkgo.focus=none-the-kubelet-is-the-test' \
		"$here/cri.sh" "$@" 2>&1 | tee "$out" >&2 || true
	if grep -q '^kubelet: 1 passed, 0 failed' "$out"; then
		echo "kubelet: 1 passed, 0 failed"
		exit 0
	fi
	echo "kubelet: 0 passed, 1 failed"
	exit 1
fi

[[ -x $KBIN ]] || die "no kubelet at $KBIN (run $KUBELET_SMOKE build)"
CRICTL=("$CRITEST_WORK/bin/crictl" --config /dev/null --runtime-endpoint "$ENDPOINT" --image-endpoint "$ENDPOINT" --timeout 30s)
NSRUN=()
[[ -n ${CRITEST_NS_PID:-} ]] && NSRUN=(nsenter -t "$CRITEST_NS_PID" -n -i --)
[[ -e $KUBELET_DIR ]] && die "$KUBELET_DIR exists; remove it or set KUBELET_DIR"
had_logs_pods=0 had_logs_containers=0 had_kubepods=0 had_var_lib_kubelet=0
[[ -e /var/lib/kubelet ]] && had_var_lib_kubelet=1 # device-plugins/ is made there whatever --root-dir says
[[ -e /var/log/pods ]] && had_logs_pods=1
[[ -e /var/log/containers ]] && had_logs_containers=1
compgen -G '/sys/fs/cgroup/kubepods*' >/dev/null || compgen -G '/sys/fs/cgroup/*/kubepods*' >/dev/null && had_kubepods=1

KPID="" POD_UID=""
cleanup() {
	local rc=$? p i
	if [[ -n $KPID ]] && kill -0 "$KPID" 2>/dev/null; then
		rm -f "$KUBELET_DIR/manifests/pod.yaml"
		for i in $(seq 30); do
			[[ -z $("${CRICTL[@]}" pods -q --name hako-kubelet 2>/dev/null) ]] && break
			sleep 1
		done
		kill -TERM "$KPID" 2>/dev/null || true
		wait "$KPID" 2>/dev/null || true
	fi
	for p in $("${CRICTL[@]}" pods -q --name hako-kubelet 2>/dev/null); do
		"${CRICTL[@]}" stopp "$p" >/dev/null 2>&1 || true
		"${CRICTL[@]}" rmp "$p" >/dev/null 2>&1 || true
	done
	awk -v p="$KUBELET_DIR/" 'index($5, p) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
		while read -r m; do umount -l "$m" 2>/dev/null || true; done
	[[ -f $KUBELET_DIR/kubelet.log ]] && cp "$KUBELET_DIR/kubelet.log" "$CRITEST_WORK/kubelet-hako.log" 2>/dev/null || true
	rm -rf "$KUBELET_DIR"
	if [[ -n $POD_UID ]]; then
		rm -rf /var/log/pods/*_"$POD_UID"
		rm -f /var/log/containers/hako-kubelet*
	fi
	((had_var_lib_kubelet)) || rm -rf /var/lib/kubelet
	((had_logs_pods)) || rmdir /var/log/pods 2>/dev/null || true
	((had_logs_containers)) || rmdir /var/log/containers 2>/dev/null || true
	if ((!had_kubepods)); then
		for p in /sys/fs/cgroup/kubepods* /sys/fs/cgroup/*/kubepods*; do
			[[ -d $p ]] && find "$p" -depth -type d -exec rmdir {} \; 2>/dev/null
		done
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$KUBELET_DIR/manifests" "$KUBELET_DIR/fake-sysctl"
cat >"$KUBELET_DIR/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: $ENDPOINT
imageServiceEndpoint: $ENDPOINT
staticPodPath: $KUBELET_DIR/manifests
address: 127.0.0.1
healthzBindAddress: 127.0.0.1
readOnlyPort: 0
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
authorization: {mode: AlwaysAllow}
enforceNodeAllocatable: []
EOF
# web serves the shared volume on the pod's loopback; reader reads the
# file from the volume and over 127.0.0.1 (the shared network namespace),
# prints what it got and crashes after a few seconds, to be restarted.
cat >"$KUBELET_DIR/manifests/pod.yaml" <<EOF
apiVersion: v1
kind: Pod
metadata: {name: hako, namespace: default}
spec:
  restartPolicy: Always
  volumes:
  - name: shared
    emptyDir: {}
  containers:
  - name: web
    image: $KUBELET_IMAGE
    command: [sh, -c, 'echo from-the-volume > /shared/index.html; echo web-up; exec httpd -f -p 127.0.0.1:8080 -h /shared']
    volumeMounts: [{name: shared, mountPath: /shared}]
  - name: reader
    image: $KUBELET_IMAGE
    command: [sh, -c, 'sleep 1; echo "volume: \$(cat /shared/index.html)"; echo "loopback: \$(wget -qO- http://127.0.0.1:8080/)"; sleep 3; echo crashing; exit 3']
    volumeMounts: [{name: shared, mountPath: /shared}]
EOF
echo 1 >"$KUBELET_DIR/fake-sysctl/overcommit_memory"
echo 10 >"$KUBELET_DIR/fake-sysctl/panic"
echo 1 >"$KUBELET_DIR/fake-sysctl/panic_on_oops"

log "starting kubelet $("$KBIN" --version) (log: $KUBELET_DIR/kubelet.log)"
"${NSRUN[@]}" unshare -m --propagation slave -- sh -c "
	mount --bind '$KUBELET_DIR/fake-sysctl/overcommit_memory' /proc/sys/vm/overcommit_memory &&
	mount --bind '$KUBELET_DIR/fake-sysctl/panic' /proc/sys/kernel/panic &&
	mount --bind '$KUBELET_DIR/fake-sysctl/panic_on_oops' /proc/sys/kernel/panic_on_oops &&
	exec '$KBIN' --config '$KUBELET_DIR/config.yaml' --root-dir '$KUBELET_DIR/root' \
		--cert-dir '$KUBELET_DIR/pki' --hostname-override kubelet --v=2" >"$KUBELET_DIR/kubelet.log" 2>&1 &
KPID=$!

# Wait for the reader's second attempt (the kubelet restarted it after
# its crash) and for web to be running.
ok=0 start=$(date +%s)
while (($(date +%s) - start < 240)); do
	sleep 2
	kill -0 "$KPID" 2>/dev/null || { log "kubelet exited: $(tail -5 "$KUBELET_DIR/kubelet.log")"; break; }
	pod=$("${CRICTL[@]}" pods -q --name hako-kubelet 2>/dev/null | head -1)
	[[ -n $pod ]] || continue
	POD_UID=$("${CRICTL[@]}" inspectp -o go-template --template '{{.status.metadata.uid}}' "$pod" 2>/dev/null || true)
	web=$("${CRICTL[@]}" ps -q --pod "$pod" --name '^web$' --state Running 2>/dev/null | head -1)
	again=$("${CRICTL[@]}" ps -a --pod "$pod" --name '^reader$' -o json 2>/dev/null |
		jq -r '.containers[] | select((.metadata.attempt // 0) >= 1) | .id' 2>/dev/null || true)
	[[ -n $web && -n $again ]] && { ok=1; break; }
done
"${CRICTL[@]}" ps -a --name '^(web|reader)$' >&2 2>/dev/null || true

fail=()
if ((!ok)); then
	fail+=("the pod did not run with its reader restarted within 240 s")
	grep -E '^E[0-9]{4}' "$KUBELET_DIR/kubelet.log" | tail -15 >&2 || true
else
	logs=$(ls -d /var/log/pods/default_hako-kubelet_"$POD_UID" 2>/dev/null || true)
	[[ -n $logs ]] || fail+=("no /var/log/pods/default_hako-kubelet_$POD_UID")
	f0=$logs/reader/0.log
	if [[ ! -f $f0 ]]; then
		fail+=("no CRI log $f0")
	else
		log "reader's first log ($f0):"
		cat "$f0" >&2
		grep -qE '^[0-9T:.Z-]+ stdout F volume: from-the-volume$' "$f0" || fail+=("the reader did not read the shared volume")
		grep -qE '^[0-9T:.Z-]+ stdout F loopback: from-the-volume$' "$f0" || fail+=("the reader did not reach web over the pod's loopback")
		grep -qE ' stdout F crashing$' "$f0" || fail+=("the crash is not in the log")
	fi
	grep -qE ' stdout F web-up$' "$logs/web/0.log" 2>/dev/null || fail+=("web's log has no web-up line")
	[[ -f $logs/reader/1.log ]] || fail+=("no log of the restarted reader ($logs/reader/1.log)")
	code=$("${CRICTL[@]}" inspect -o go-template --template '{{.status.exitCode}}' \
		"$("${CRICTL[@]}" ps -a -q --pod "$pod" --name '^reader$' --state Exited | tail -1)" 2>/dev/null || true)
	[[ $code == 3 ]] || fail+=("the crashed reader's exit code is '$code', not 3")
fi
if ((${#fail[@]})); then
	printf '[kubelet.sh] FAIL: %s\n' "${fail[@]}" >&2
	echo "kubelet: 0 passed, 1 failed"
	exit 1
fi
log "a two-container static pod ran on hako, shared a volume and its loopback, and its crashed container was restarted, after $(($(date +%s) - start)) s"
echo "kubelet: 1 passed, 0 failed"
