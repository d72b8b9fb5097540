#!/usr/bin/env bash
# bench/build.sh: `hako build` beside `podman build` and `docker build`, in
# one run, on the same 10-step Dockerfile (FROM busybox, ARG, ENV, WORKDIR,
# two COPYs, two RUNs, USER, CMD) and the same busybox image (made from
# /bin/busybox and imported into each engine: no registry needed):
#   cold:   build --no-cache (every RUN runs, every layer is made)
#   cached: the same build again, unchanged (every step from the cache)
# Prints medians (hyperfine) and ratios against hako, and checks that a
# cached build ran no step (its output says "Using cache" for each of
# the 9 steps after FROM).
#
#   sudo bench/build.sh   # BENCH_RUNS=20 BENCH_COLD_RUNS=5
#
# The engines are set up as bench/containers.sh sets them up: private state
# under one mktemp dir, a hako daemon and a dockerd (no bridge, no iptables)
# of our own, podman with its own --root/--runroot; a private mount
# namespace with a tmpfs on /run and /etc/docker; RUN steps without a
# network (hako's default; --network none for podman and docker). docker
# uses its classic builder (DOCKER_BUILDKIT=0: Debian's docker.io has no
# buildx). Engines that are not installed are skipped with a note.
# A benchmark, never a test. Record results in bench/RESULTS.md.
set -euo pipefail
SELF="$(readlink -f "${BASH_SOURCE[0]}")"
cd "$(dirname "$SELF")/.."
export PATH="$PATH:/usr/local/go/bin"
[ "$(id -u)" = 0 ] || { echo "build.sh: must run as root" >&2; exit 2; }

if [ -z "${_BUILD_BENCH_INNER:-}" ]; then
	hack/deps.sh
	CGO_ENABLED=0 GOEXPERIMENT=jsonv2 go build -o bin/hako ./cmd/hako
	exec unshare --mount --propagation private env _BUILD_BENCH_INNER=1 bash "$SELF" "$@"
fi

RUNS="${BENCH_RUNS:-20}"
COLD_RUNS="${BENCH_COLD_RUNS:-5}"
START=$SECONDS
log() { echo "build.sh: $*" >&2; }

if [ "$(stat -f -c %T /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2fs ]; then
	umount /sys/fs/cgroup/unified # crun 1.8 refuses cgroup v2's hybrid mount
fi
mount -t tmpfs -o mode=0755 tmpfs /run
if [ -d /etc/docker ]; then mount -t tmpfs -o mode=0755 tmpfs /etc/docker; fi

W="$(mktemp -d /var/tmp/hako-bench-build.XXXXXX)"
RES="$W/results"
mkdir -p "$RES"
CGP="$(basename "$W")"

ENGINES=()
declare -A CLI BUILD NOTE VERSION
NOTES=()
# shellcheck source=engines.sh
. bench/engines.sh
cleanup() {
	set +e
	engines_cleanup
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The busybox image.
busybox_tar

# The build context: 10 steps, 21 small files.
CTX="$W/ctx"
mkdir -p "$CTX/conf"
for i in $(seq 20); do echo "key$i=value$i" >"$CTX/conf/$i.conf"; done
printf '#!/bin/sh\necho "app $VERSION in $APP"\n' >"$CTX/app.sh"
cat >"$CTX/Dockerfile" <<'EOF'
FROM busybox
ARG VERSION=1
ENV APP=/app VERSION=$VERSION
WORKDIR /app
COPY conf/ ./conf/
RUN mkdir -p /app/data && cat conf/*.conf > /app/data/all.conf
COPY app.sh /app/
RUN chmod +x /app/app.sh && /app/app.sh
USER nobody
CMD ["/app/app.sh"]
EOF

up() { # engine: import the image and check that a build works, else skip it
	local e="$1" out
	if ! out="$(timeout 120 ${CLI[$e]} import -c 'CMD ["sh"]' "$W/rootfs.tar" busybox 2>&1)"; then
		NOTES+=("$e skipped: import failed: $(echo "$out" | tail -1)"); return 1
	fi
	if ! out="$(timeout 300 ${BUILD[$e]} -t bench "$CTX" 2>&1)"; then
		NOTES+=("$e skipped: the first build failed: $(echo "$out" | tail -1)"); return 1
	fi
	ENGINES+=("$e")
}

if engine_hako; then
	BUILD[hako]="${CLI[hako]} build"
	up hako || true
fi
# podman (buildah inside); its default ulimits (1048576) need
# CAP_SYS_RESOURCE, which this VM lacks
if engine_podman; then
	BUILD[podman]="${CLI[podman]} build --network none --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 --cgroup-parent /$CGP-podman"
	VERSION[podman]+=", buildah $(buildah --version 2>/dev/null | awk '{print $3}')"
	up podman || true
fi
# docker: its classic builder
if engine_docker; then
	BUILD[docker]="env DOCKER_BUILDKIT=0 ${CLI[docker]} build --network none"
	VERSION[docker]+=" (classic builder)"
	up docker || true
fi
[ ${#ENGINES[@]} -gt 0 ] || { printf '%s\n' "${NOTES[@]}" >&2; exit 1; }
BASE="${ENGINES[0]}"

declare -A STAT
hf() { # key runs warmup cmd: hyperfine; STAT[key]="min median mean stddev" (ms)
	if ! timeout -k 10 600 hyperfine -N --style none --warmup "$3" --runs "$2" \
		--export-json "$RES/$1.json" "$4" >"$RES/$1.log" 2>&1; then
		STAT[$1]=FAIL
		log "$1 failed: $(grep -v '^[[:space:]]*$' "$RES/$1.log" | tail -2 | tr '\n' ' ')"
		return 0
	fi
	STAT[$1]="$(jq -r '.results[0] | "\(.min*1000) \(.median*1000) \(.mean*1000) \((.stddev // 0)*1000)"' "$RES/$1.json")"
}
field() { echo "${STAT[$1]:-FAIL}" | awk -v i="$2" '{print $i}'; }
num() { [[ "$1" =~ ^[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$ ]]; }
fmt() { num "$1" && awk -v x="$1" -v d="${2:-1}" 'BEGIN{printf "%.*f", d, x}' || printf '%s' "${1:--}"; }
ratio() { num "$1" && num "$2" && awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.2fx", a/b; else print "-" }' || echo -; }

echo "# build-bench $(date -u +%Y-%m-%dT%H:%MZ) on $(uname -r), $(nproc) CPUs, $(findmnt -no FSTYPE -T /var/tmp) under /var/tmp"
echo "# runs: cached=$RUNS cold=$COLD_RUNS; loadavg at start: $(cut -d' ' -f1-3 /proc/loadavg)"
for e in hako podman docker; do [ -n "${VERSION[$e]:-}" ] && echo "# $e: ${VERSION[$e]}"; done
for n in "${NOTES[@]}"; do echo "# NOTE: $n"; done

declare -A CACHED_RAN
for e in "${ENGINES[@]}"; do
	log "cached: $e"
	# the build up() made is the cache; check that a rebuild runs nothing
	out="$(timeout 300 ${BUILD[$e]} -t bench "$CTX" 2>&1 || true)"
	echo "$out" >"$RES/cached-$e.out"
	# 9 steps after FROM, each "Using cache" (all three engines say so)
	CACHED_RAN[$e]=$((9 - $(echo "$out" | grep -c 'Using cache' || true)))
	hf "cached-$e" "$RUNS" 2 "${BUILD[$e]} -t bench $CTX"
	log "cold: $e"
	hf "cold-$e" "$COLD_RUNS" 1 "${BUILD[$e]} --no-cache -t bench $CTX"
done

echo
echo "### 10-step Dockerfile: cold (--no-cache) and cached (unchanged) build"
echo
echo "| engine | cold median s | cold min s | cached median ms | cached min ms | cached stddev ms | cached vs $BASE | cold vs $BASE |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for e in "${ENGINES[@]}"; do
	c="$(field "cold-$e" 2)"; h="$(field "cached-$e" 2)"
	cs="$(num "$c" && awk -v m="$c" 'BEGIN{print m/1000}' || echo FAIL)"
	cm="$(num "$(field "cold-$e" 1)" && awk -v m="$(field "cold-$e" 1)" 'BEGIN{print m/1000}' || echo -)"
	echo "| $e | $(fmt "$cs" 2) | $(fmt "$cm" 2) | $(fmt "$h") | $(fmt "$(field "cached-$e" 1)") | $(fmt "$(field "cached-$e" 4)") | $(ratio "$h" "$(field "cached-$BASE" 2)") | $(ratio "$c" "$(field "cold-$BASE" 2)") |"
done
echo
for e in "${ENGINES[@]}"; do
	[ "${CACHED_RAN[$e]}" = 0 ] || echo "# NOTE: $e: the cached rebuild ran ${CACHED_RAN[$e]} step(s) (see its output)"
done
echo "# goal: hako's cached rebuild ≤ 200 ms and faster than podman's and docker's"
echo "# loadavg at end: $(cut -d' ' -f1-3 /proc/loadavg); $((SECONDS - START)) s"
