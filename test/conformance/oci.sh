#!/usr/bin/env bash
# Runs the OCI runtime-tools validation suite (oci-validation.sh beside
# this file, the project's shared harness) against a runtime and fails when
# the result falls below the thresholds recorded in oci-thresholds.
#
#   test/conformance/oci.sh bin/hako-runtime
#
# The runtime path is resolved by the harness (readlink -f), so it must be
# a hard link or copy named hako-runtime, not a symlink.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
rt="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
# shellcheck source=oci-thresholds
. "$here/oci-thresholds"
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
RUNTIME="$rt" OCI_VALIDATION_LABEL=hako bash "$here/oci-validation.sh" | tee "$out"
last="$(tail -n 1 "$out")"
passed="$(echo "$last" | awk '{print $1}')"
failed="$(echo "$last" | awk '{print $3}')"
case "$passed$failed" in *[!0-9]*|"") echo "oci.sh: cannot read the result line: $last" >&2; exit 1 ;; esac
echo "oci.sh: $passed passed (minimum $MIN_PASSED), $failed failed (maximum $MAX_FAILED)"
if [ "$passed" -lt "$MIN_PASSED" ] || [ "$failed" -gt "$MAX_FAILED" ]; then
	echo "oci.sh: conformance regressed" >&2
	exit 1
fi
