#!/usr/bin/env bash
# Runs critest against hako's CRI (cri.sh beside this file, with the
# project's copy of the shared harness critest.sh) and fails when the
# result falls below the thresholds recorded in cri-thresholds.
#
#   test/conformance/cri-check.sh bin/hako
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=cri-thresholds
. "$here/cri-thresholds"
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
CRITEST_SH="$here/critest.sh" "$here/cri.sh" "$@" | tee "$out" || true
last="$(tail -n 1 "$out")"
passed="$(echo "$last" | awk '{print $1}')"
failed="$(echo "$last" | awk '{print $3}')"
case "$passed$failed" in *[!0-9]*|"") echo "cri-check.sh: cannot read the result line: $last" >&2; exit 1 ;; esac
echo "cri-check.sh: $passed passed (minimum $MIN_PASSED), $failed failed (maximum $MAX_FAILED)"
if [ "$passed" -lt "$MIN_PASSED" ] || [ "$failed" -gt "$MAX_FAILED" ]; then
	echo "cri-check.sh: conformance regressed" >&2
	exit 1
fi
