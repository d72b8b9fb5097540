# bench/engines.sh: sourced by the benchmarks that put hako beside podman
# and docker (containers.sh, build.sh). It gives each engine private state
# under the caller's work dir $W and the cgroup parent "/$CGP-<engine>",
# and stops what it started by pid. The caller declares, before sourcing:
#
#   W CGP RES               work dir, cgroup-parent prefix, results dir
#   declare -A CLI VERSION  per engine: its command line, its version text
#   (and RMARGS: extra `rm -f` flags, optional)
#   NOTES=() ENGINES=()     skip notes; the engines that are up
#
# and calls engines_cleanup from its EXIT trap. engine_hako, engine_podman
# and engine_docker start an engine (or add a note and fail); the caller
# then checks it with its own `up`.

HAKO_PID="" DOCKERD_PID="" CONTAINERD_PID=""
declare -p RMARGS >/dev/null 2>&1 || declare -A RMARGS=()

alive_ours() { # pid: running and started with our work dir in its command line
	[ -n "$1" ] && [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -qF "$W"
}

stop_pid() { # pid seconds: TERM, wait, KILL
	local p="$1" i
	alive_ours "$p" || return 0
	kill "$p" 2>/dev/null || true
	for i in $(seq $(($2 * 10))); do alive_ours "$p" || return 0; sleep 0.1; done
	kill -9 "$p" 2>/dev/null || true
}

rm_all() { # engine: remove every container
	timeout 120 ${CLI[$1]} ps -aq 2>/dev/null | xargs -r -n 50 timeout 120 ${CLI[$1]} rm -f ${RMARGS[$1]:-} >/dev/null 2>&1 || true
}

# engines_cleanup removes every engine's containers, stops the daemons
# and the supervisors listed in SUPS (if the caller keeps one), unmounts
# what is left under $W, removes the cgroup parents and $W.
engines_cleanup() {
	local e p mon=""
	for e in "${ENGINES[@]}"; do rm_all "$e"; done
	[ -r "$W/hako/run/monitor/monitor.pid" ] && mon="$(cat "$W/hako/run/monitor/monitor.pid")"
	stop_pid "$HAKO_PID" 10
	stop_pid "$mon" 5
	stop_pid "$DOCKERD_PID" 20
	stop_pid "$CONTAINERD_PID" 5
	for p in "${SUPS[@]:-}"; do stop_pid "$p" 2; done
	awk -v w="$W" 'index($5, w) == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m"; done
	find /sys/fs/cgroup/*/ -maxdepth 1 -type d -name "$CGP-*" 2>/dev/null | while read -r d; do find "$d" -depth -type d -exec rmdir {} + 2>/dev/null; done
	rm -rf "$W"
}

# engine_hako starts a hako daemon of its own (bin/hako).
engine_hako() {
	mkdir -p "$W/hako"
	setsid "$PWD/bin/hako" daemon --root "$W/hako/root" --runroot "$W/hako/run" >"$W/hako/daemon.log" 2>&1 </dev/null &
	HAKO_PID=$!
	CLI[hako]="$PWD/bin/hako -H unix://$W/hako/run/hako.sock"
	for _ in $(seq 100); do ${CLI[hako]} version >/dev/null 2>&1 && break; sleep 0.1; done
	VERSION[hako]="$("$PWD/bin/hako" --version | awk '{print $3}') ($(git log -1 --format=%h 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ', dirty tree'))"
	${CLI[hako]} version >/dev/null 2>&1 && return 0
	NOTES+=("hako skipped: the daemon did not answer: $(tail -1 "$W/hako/daemon.log")")
	return 1
}

# engine_podman sets podman up with private storage (it has no daemon).
engine_podman() {
	if ! command -v podman >/dev/null; then
		NOTES+=("podman skipped: not installed (apt-get install podman)")
		return 1
	fi
	mkdir -p "$W/podman"
	CLI[podman]="podman --root $W/podman/root --runroot $W/podman/run --tmpdir $W/podman/tmp --network-config-dir $W/podman/net --cgroup-manager cgroupfs --events-backend file"
	VERSION[podman]="$(podman --version | awk '{print $3}'), crun $(crun --version 2>/dev/null | head -1 | awk '{print $3}')"
}

# engine_docker starts a dockerd of its own (it starts its own containerd),
# with neither bridge nor iptables.
engine_docker() {
	if ! command -v dockerd >/dev/null; then
		NOTES+=("docker skipped: dockerd not installed (apt-get install docker.io)")
		return 1
	fi
	mkdir -p "$W/docker"
	local dcli
	dcli="$(dirname "$(command -v dockerd)")/docker"; [ -x "$dcli" ] || dcli="$(command -v docker || echo docker)"
	setsid dockerd --data-root "$W/docker/data" --exec-root "$W/docker/exec" -H "unix://$W/docker/docker.sock" \
		--pidfile "$W/docker/dockerd.pid" --bridge=none --iptables=false --ip6tables=false --ip-masq=false \
		--userland-proxy=false --cgroup-parent "/$CGP-docker" >"$W/docker/dockerd.log" 2>&1 </dev/null &
	DOCKERD_PID=$!
	CLI[docker]="$dcli -H unix://$W/docker/docker.sock"
	for _ in $(seq 300); do ${CLI[docker]} version >/dev/null 2>&1 && break; alive_ours "$DOCKERD_PID" || break; sleep 0.1; done
	if ! ${CLI[docker]} version >/dev/null 2>&1; then
		NOTES+=("docker skipped: dockerd did not start: $(grep -v '^\s*$' "$W/docker/dockerd.log" | tail -1)")
		return 1
	fi
	CONTAINERD_PID="$(ps -o pid=,comm= --ppid "$DOCKERD_PID" | awk '$2 == "containerd" {print $1; exit}')"
	VERSION[docker]="$(${CLI[docker]} version --format '{{.Server.Version}}'), containerd $(containerd --version | awk '{print $3}'), runc $(runc --version | head -1 | awk '{print $3}')"
}

# busybox_tar makes $W/rootfs.tar, a busybox image's file system:
# $BUSYBOX (default /bin/busybox), its applet links, passwd and group.
busybox_tar() {
	local bb="${BUSYBOX:-/bin/busybox}" a
	mkdir -p "$W/rootfs"/{bin,dev,proc,sys,etc,tmp,root}
	cp "$bb" "$W/rootfs/bin/busybox"
	for a in $("$bb" --list); do [ "$a" = busybox ] || ln -s busybox "$W/rootfs/bin/$a"; done
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$W/rootfs/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$W/rootfs/etc/group"
	chmod 1777 "$W/rootfs/tmp"
	tar --numeric-owner --owner=0 --group=0 -C "$W/rootfs" -cf "$W/rootfs.tar" .
}
