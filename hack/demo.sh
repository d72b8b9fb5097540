#!/usr/bin/env bash
# Builds hako, imports a busybox image made from Debian's static busybox,
# and runs a container from it as a docker user would: `hako run` starts
# the daemon on first use (state in /var/lib/hako and /run/hako), and the
# container gets its own pid, mount, uts, ipc and network namespaces, a
# 64 MiB memory limit and an overlay root over the image.
# Needs root and Go 1.26 on PATH (or at /usr/local/go/bin).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
if ! file -L /bin/busybox 2>/dev/null | grep -q 'statically linked'; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static file >/dev/null
fi
mkdir -p bin
CGO_ENABLED=0 GOEXPERIMENT=jsonv2 go build -o bin/hako ./cmd/hako
ln -f bin/hako bin/hako-runtime

if ! bin/hako image inspect busybox >/dev/null 2>&1; then
	rootfs=$(mktemp -d /tmp/hako-demo.XXXXXX)
	trap 'rm -rf "$rootfs"' EXIT
	mkdir -p "$rootfs"/{bin,etc,tmp,root}
	cp /bin/busybox "$rootfs/bin/busybox"
	for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$rootfs/bin/$a"; done
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$rootfs/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
	tar -C "$rootfs" -c . | bin/hako import -c 'CMD ["sh"]' - busybox
fi
bin/hako run --rm --hostname demo -m 64m busybox sh -c \
	'echo "hello from $(hostname): pid $$ of $(ps | tail -n +2 | wc -l) processes"; ps; cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max'
