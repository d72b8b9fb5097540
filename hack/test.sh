#!/usr/bin/env bash
# Runs every test of hako: vet and format checks, unit tests, root tests
# (namespaces, mounts, cgroups, for real), race-detector runs of the
# concurrent packages, black-box tests of the built binary, and the OCI
# runtime-tools conformance suite and Kubernetes critest, each with its
# pass/fail thresholds.
# Needs root, Go 1.26 and the packages hack/deps.sh installs.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
# json/v2 under encoding/json decodes a spec 2-3x faster on first use.
export CGO_ENABLED=0 GOEXPERIMENT=jsonv2 GOFLAGS="${GOFLAGS:--buildvcs=false}"

step() { printf '\n== %s\n' "$*"; }

step "format and vet"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then echo "not gofmt'ed:"; echo "$unformatted"; exit 1; fi
go vet ./...

step "build"
mkdir -p bin
go build -o bin/hako ./cmd/hako
ln -f bin/hako bin/hako-runtime

step "CRI tools: crictl (e2e tests) and critest (conformance), built once into /var/tmp/critest-work"
test/conformance/critest.sh build

step "unit and root tests"
go test -count=1 -timeout 20m ./...

step "race detector on the concurrent packages"
CGO_ENABLED=1 go test -count=1 -race -timeout 10m ./internal/runtime/process/ ./internal/runtimecli/ ./internal/daemon/... ./internal/api/... ./internal/client/

step "OCI runtime-tools conformance"
test/conformance/oci.sh bin/hako-runtime

step "Kubernetes CRI conformance (critest)"
test/conformance/cri-check.sh bin/hako
