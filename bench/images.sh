#!/usr/bin/env bash
# bench/images.sh: hako's image operations beside podman and skopeo, in one
# run, on a synthetic ~200 MiB, 8-layer image served by a registry on
# 127.0.0.1 (bench/imgregistry): pull, save, load and import. Prints
# medians (hyperfine) and hako/podman ratios.
#
#   sudo bench/images.sh           # BENCH_RUNS=5 BENCH_SIZE=200 BENCH_LAYERS=8
#
# hako and podman download, verify and unpack into overlay storage;
# `skopeo copy docker:// oci:` is the download-only baseline, and
# skopeo + `umoci unpack` the download-and-unpack one.
# A benchmark, never a test. Record results in bench/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
hack/deps.sh
runs="${BENCH_RUNS:-5}"
work="$(mktemp -d /var/tmp/hako-bench-images.XXXXXX)"
addr=127.0.0.1:5055
ref="$addr/bench/img:1"
export HAKO_ROOT="$work/root" HAKO_RUNROOT="$work/run"
regpid=""
cleanup() {
	[ -n "$regpid" ] && kill "$regpid" 2>/dev/null || true
	[ -f "$work/run/hako.pid" ] && kill "$(cat "$work/run/hako.pid")" 2>/dev/null || true
	podman rmi -f "$ref" localhost/bench/imported:1 >/dev/null 2>&1 || true
	sleep 0.5
	rm -rf "$work"
}
trap cleanup EXIT

CGO_ENABLED=0 GOEXPERIMENT=jsonv2 go build -o bin/hako ./cmd/hako
go build -o "$work/imgregistry" ./bench/imgregistry
"$work/imgregistry" -addr "$addr" -size "${BENCH_SIZE:-200}" -layers "${BENCH_LAYERS:-8}" >"$work/registry.out" 2>&1 &
regpid=$!
for _ in $(seq 600); do grep -q ready "$work/registry.out" 2>/dev/null && break; sleep 0.1; done
grep -q ready "$work/registry.out" || { echo "registry did not start" >&2; cat "$work/registry.out" >&2; exit 1; }

hako="$PWD/bin/hako"
"$hako" info --format '{{.ID}}' >/dev/null    # start the daemon outside the timings
"$hako" pull -q "$ref" >/dev/null
"$hako" save -o "$work/hako.tar" "$ref"
podman pull -q --tls-verify=false "$ref" >/dev/null
podman save -q -o "$work/podman.tar" "$ref" >/dev/null
# A realistic rootfs for import: the image's layers, unpacked, re-tarred.
rm -rf "$work/rootfs" && mkdir -p "$work/rootfs"
for l in $(tar -tf "$work/hako.tar" | grep -E '\.tar\.gz$|sha256:[0-9a-f]+$' ); do
	tar -xOf "$work/hako.tar" "$l" | tar -xz -C "$work/rootfs" 2>/dev/null || true
done
tar -cf "$work/rootfs.tar" -C "$work/rootfs" .

hf() { # name, then hyperfine args
	local name="$1"; shift
	hyperfine --runs "$runs" --warmup 1 --export-json "$work/$name.json" "$@" >/dev/null
	jq -r --arg n "$name" '.results[] | [$n, .command, (.median*1000|floor)] | @tsv' "$work/$name.json"
}
{
	hf pull \
		--prepare "$hako rmi -f $ref >/dev/null 2>&1 || true" "$hako pull -q $ref" \
		--prepare "podman rmi -f $ref >/dev/null 2>&1 || true" "podman pull -q --tls-verify=false $ref" \
		--prepare "rm -rf $work/oci" "skopeo copy -q --src-tls-verify=false docker://$ref oci:$work/oci:x" \
		--prepare "rm -rf $work/oci2 $work/bundle" "skopeo copy -q --src-tls-verify=false docker://$ref oci:$work/oci2:x && umoci unpack --image $work/oci2:x $work/bundle >/dev/null"
	hf save \
		--prepare "rm -f $work/h2.tar" "$hako save -o $work/h2.tar $ref" \
		--prepare "rm -f $work/p2.tar" "podman save -q -o $work/p2.tar $ref"
	hf load \
		--prepare "$hako rmi -f $ref >/dev/null 2>&1 || true" "$hako load -q -i $work/hako.tar" \
		--prepare "podman rmi -f $ref >/dev/null 2>&1 || true" "podman load -q -i $work/podman.tar"
	hf import \
		"$hako import $work/rootfs.tar bench/imported:1" \
		"podman import -q $work/rootfs.tar bench/imported:1"
} >"$work/all.tsv"

echo "### image operations, median ms ($runs runs; $(du -sh "$work/rootfs" | cut -f1) unpacked, $(du -h "$work/hako.tar" | cut -f1) as docker-archive)"
echo
echo "| operation | hako | podman | skopeo (download) | skopeo + umoci unpack | hako/podman |"
echo "|---|---:|---:|---:|---:|---:|"
for op in pull save load import; do
	h=$(awk -F'\t' -v o="$op" '$1==o && $2 ~ /bin\/hako/ {print $3}' "$work/all.tsv")
	p=$(awk -F'\t' -v o="$op" '$1==o && $2 ~ /^podman/ {print $3}' "$work/all.tsv")
	s=$(awk -F'\t' -v o="$op" '$1==o && $2 ~ /^skopeo/ && $2 !~ /umoci/ {print $3}' "$work/all.tsv")
	u=$(awk -F'\t' -v o="$op" '$1==o && $2 ~ /umoci/ {print $3}' "$work/all.tsv")
	r=$(awk -v h="$h" -v p="$p" 'BEGIN { if (p > 0) printf "%.2fx", h/p; else print "-" }')
	echo "| $op | $h | $p | ${s:--} | ${u:--} | $r |"
done
