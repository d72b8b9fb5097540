#!/usr/bin/env bash
# bench/runtime.sh: hako's OCI runtime beside crun and runc, in one run, on
# the same busybox bundle: run of /bin/true, run with a new network
# namespace, run with a 64 MiB memory limit, 100 create+start+delete
# sequentially and 8-way parallel, exec into a running container, peak RSS,
# and podman run with each runtime. Prints medians and ratios against crun
# (bench/runtime-perf.sh does the measuring; see its header for knobs).
#
#   sudo bench/runtime.sh            # all sections
#   PERF_SECTIONS="run exec" sudo bench/runtime.sh
#
# A benchmark, never a test: results vary with the machine; compare the
# ratios, which are taken in the same run. Record them in bench/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
hack/deps.sh
mkdir -p bin
# hako-runtime is cmd/hako built with -tags runtime_only: the runtime face
# without the daemon and CLI, whose package initialisers would otherwise
# run in every process start (the runtime's and the container init's),
# ~1.2 ms each. A copy, not a symlink: the harness resolves symlinks, and
# hako picks its face from the name it is called by.
CGO_ENABLED=0 GOEXPERIMENT=jsonv2 go build -trimpath -ldflags "-s -w" -tags runtime_only -o bin/hako-runtime ./cmd/hako
rts=(crun runc "$PWD/bin/hako-runtime")
exec bench/runtime-perf.sh "${rts[@]}"
