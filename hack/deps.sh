#!/usr/bin/env bash
# Installs the Debian packages hako's tests and benchmarks use.
set -euo pipefail
pkgs=(busybox-static file jq util-linux iproute2 time hyperfine runc crun podman containerd uidmap skopeo umoci gcc containernetworking-plugins iptables docker-compose buildah)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq "${missing[@]}" >/dev/null
fi
