#!/usr/bin/env bash
# Builds hako, makes an OCI bundle from Debian's static busybox, and runs a
# container from it with hako's runtime: new pid, mount, uts, ipc, network
# and cgroup namespaces, a 64 MiB memory limit, pivot_root into busybox.
# Needs root and Go 1.26 on PATH (or at /usr/local/go/bin).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
if ! file -L /bin/busybox 2>/dev/null | grep -q 'statically linked'; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static file >/dev/null
fi
mkdir -p bin
CGO_ENABLED=0 GOEXPERIMENT=jsonv2 go build -o bin/hako ./cmd/hako
ln -sf hako bin/hako-runtime

bundle=$(mktemp -d /tmp/hako-demo.XXXXXX)
trap 'rm -rf "$bundle"' EXIT
mkdir -p "$bundle"/rootfs/{bin,dev,etc,proc,sys,tmp}
cp /bin/busybox "$bundle/rootfs/bin/busybox"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$bundle/rootfs/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' >"$bundle/rootfs/etc/passwd"
echo 'root:x:0:' >"$bundle/rootfs/etc/group"
(cd "$bundle" && "$OLDPWD/bin/hako" runtime spec)
# A non-interactive demo command instead of the default interactive shell.
sed -i -e 's/"terminal": true/"terminal": false/' \
	-e 's|^\(\t*\)"sh"$|\1"sh", "-c", "echo hello from $(hostname): pid $$ of $(ps \| tail -n +2 \| wc -l) processes; ps; cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null \|\| cat /sys/fs/cgroup/memory.max"|' \
	-e 's|"resources": {|"resources": {"memory": {"limit": 67108864},|' \
	"$bundle/config.json"
bin/hako runtime run --bundle "$bundle" "hako-demo-$$"
