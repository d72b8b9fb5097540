#!/usr/bin/env bash
# bench/containers.sh: hako's container engine beside podman and docker, in
# one run, on the same busybox image (made from /bin/busybox and imported
# into each engine: no registry needed): `run --rm` latency, `exec`
# latency, 50 x `run --rm` 8-way parallel, the memory that supervises an
# idle container (hako's monitor, podman's conmon, docker's
# containerd-shim) at 1, 10 and 50 containers, and `ps -a` over 200 created
# containers. Prints medians (hyperfine) and ratios against hako.
#
#   sudo bench/containers.sh   # BENCH_RUNS=20 BENCH_N=50 BENCH_PAR=8 BENCH_PS=200
#                              # BENCH_SETTLE=11 BENCH_BUDGET=540 (seconds)
#
# Each engine has private state under one mktemp dir: hako a daemon started
# here with --root/--runroot, podman --root/--runroot/--tmpdir/
# --network-config-dir, docker a dockerd with --data-root/--exec-root and
# neither bridge nor iptables. Every container has a network namespace with
# only lo (--network none for all three; bench/network.sh measures hako's
# bridge). The
# script runs in a private mount namespace with a tmpfs on /run and on
# /etc/docker (the engines' stray state stays there) and cgroup v2's hybrid
# mount hidden (crun 1.8 refuses hybrid mode; as in runtime-perf.sh).
# Engines that are not installed are skipped with a note (docker: apt-get
# install docker.io). Sections left when BENCH_BUDGET is spent are skipped.
# A container that fails in the parallel section is counted (a column and a
# NOTE with its error), not fatal; the podman and docker containers live
# under a cgroup parent of their own, removed with everything else at exit.
# A benchmark, never a test. Record results in bench/RESULTS.md.
set -euo pipefail
SELF="$(readlink -f "${BASH_SOURCE[0]}")"
cd "$(dirname "$SELF")/.."
export PATH="$PATH:/usr/local/go/bin"
[ "$(id -u)" = 0 ] || { echo "containers.sh: must run as root" >&2; exit 2; }

if [ -z "${_CONTAINERS_BENCH_INNER:-}" ]; then
	hack/deps.sh
	CGO_ENABLED=0 GOEXPERIMENT=jsonv2 go build -o bin/hako ./cmd/hako
	exec unshare --mount --propagation private env _CONTAINERS_BENCH_INNER=1 bash "$SELF" "$@"
fi

RUNS="${BENCH_RUNS:-20}"
WARMUP=3
N="${BENCH_N:-50}"
PAR="${BENCH_PAR:-8}"
NPS="${BENCH_PS:-200}"
SETTLE="${BENCH_SETTLE:-11}" # hako's monitor returns garbage to the OS after ~10 s without requests
BUDGET="${BENCH_BUDGET:-540}"
START=$SECONDS
log() { echo "containers.sh: $*" >&2; }
over_budget() { [ $((SECONDS - START)) -gt "$BUDGET" ]; }

# ---------------------------------------------------- mount namespace -----
if [ "$(stat -f -c %T /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2fs ]; then
	umount /sys/fs/cgroup/unified
	CGVIEW="cgroup v1 (hybrid cgroup2 mount hidden)"
else
	CGVIEW="cgroup $(stat -f -c %T /sys/fs/cgroup)"
fi
mount -t tmpfs -o mode=0755 tmpfs /run
if [ -d /etc/docker ]; then mount -t tmpfs -o mode=0755 tmpfs /etc/docker; fi

W="$(mktemp -d /var/tmp/hako-bench-containers.XXXXXX)"
RES="$W/results"
mkdir -p "$RES"
# podman's and docker's containers (and conmon) go under a cgroup parent of
# their own, removed at the end; hako removes each container's cgroup itself
CGP="$(basename "$W")"

# ------------------------------------------------------------ engines -----
ENGINES=()            # engines that are up, in table order
declare -A CLI RUNARGS RMARGS NOTE VERSION
NOTES=()
SUPS=()               # supervisor pids seen (conmon, shims), for cleanup
# shellcheck source=engines.sh
. bench/engines.sh
cleanup() {
	set +e
	engines_cleanup
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A busybox image.
busybox_tar

# up ENGINE: import the image and check that a container runs, else skip it
up() {
	local e="$1" out
	if ! out="$(timeout 120 ${CLI[$e]} import -c 'CMD ["sh"]' "$W/rootfs.tar" busybox 2>&1)"; then
		NOTES+=("$e skipped: import failed: $(echo "$out" | tail -1)"); return 1
	fi
	if ! out="$(timeout 60 ${CLI[$e]} run --rm ${RUNARGS[$e]} busybox true 2>&1)"; then
		NOTES+=("$e skipped: \`run --rm busybox true\` failed: $(echo "$out" | tail -1)"); return 1
	fi
	ENGINES+=("$e")
}

if engine_hako; then
	RUNARGS[hako]="--network none" RMARGS[hako]=""
	VERSION[hako]+=", its own runtime, one monitor process"
	up hako || true
fi
# podman: its default ulimits (1048576) need CAP_SYS_RESOURCE, which this
# VM lacks
if engine_podman; then
	RUNARGS[podman]="--network none --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 --cgroup-parent /$CGP-podman"
	RMARGS[podman]="-t 0"
	VERSION[podman]+=", $(conmon --version 2>/dev/null | head -1 | sed 's/ version//')"
	up podman || true
fi
if engine_docker; then
	RUNARGS[docker]="--network none" RMARGS[docker]=""
	VERSION[docker]+=", containerd-shim-runc-v2 per container"
	up docker || true
fi
[ ${#ENGINES[@]} -gt 0 ] || { printf '%s\n' "${NOTES[@]}" >&2; exit 1; }
BASE="${ENGINES[0]}" # hako unless it was skipped

# ------------------------------------------------------- measurement ------
declare -A STAT
# hf KEY RUNS WARMUP CMD [-i] : hyperfine; STAT[KEY]="min median mean stddev" (ms);
# with -i, runs that fail are timed too and counted in FAILED[KEY]
declare -A FAILED
hf() {
	local key="$1" runs="$2" w="$3" cmd="$4" shell=(-N) ign=()
	case "$cmd" in *'|'*) shell=(--shell sh) ;; esac
	[ "${5:-}" = -i ] && ign=(-i)
	if ! timeout -k 10 240 hyperfine "${shell[@]}" "${ign[@]}" --style none --warmup "$w" --runs "$runs" \
		--export-json "$RES/$key.json" "$cmd" >"$RES/$key.log" 2>&1; then
		STAT[$key]=FAIL
		log "$key failed: $(grep -v '^[[:space:]]*$' "$RES/$key.log" | tail -2 | tr '\n' ' ')"
		return 0
	fi
	STAT[$key]="$(jq -r '.results[0] | "\(.min*1000) \(.median*1000) \(.mean*1000) \((.stddev // 0)*1000)"' "$RES/$key.json")"
	FAILED[$key]="$(jq -r '[.results[0].exit_codes[] | select(. != 0)] | length' "$RES/$key.json")"
}
field() { echo "${STAT[$1]:-FAIL}" | awk -v i="$2" '{print $i}'; }
num() { [[ "$1" =~ ^[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$ ]]; }
fmt() { num "$1" && awk -v x="$1" -v d="${2:-1}" 'BEGIN{printf "%.*f", d, x}' || printf '%s' "${1:--}"; }
ratio() { num "$1" && num "$2" && awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.2fx", a/b; else print "-" }' || echo -; }
skipped() { log "$1: skipped (budget of ${BUDGET}s spent)"; STAT[$1]=SKIP; }

table_latency() { # title keyprefix
	local e k
	echo
	echo "### $1"
	echo
	echo "| engine | min ms | median ms | mean ms | stddev ms | median vs $BASE |"
	echo "|---|---:|---:|---:|---:|---:|"
	for e in "${ENGINES[@]}"; do
		k="$2-$e"
		case "${STAT[$k]:-FAIL}" in FAIL | SKIP) echo "| $e | ${STAT[$k]:-FAIL} | | | | |"; continue ;; esac
		echo "| $e | $(fmt "$(field "$k" 1)") | $(fmt "$(field "$k" 2)") | $(fmt "$(field "$k" 3)") | $(fmt "$(field "$k" 4)") | $(ratio "$(field "$k" 2)" "$(field "$2-$BASE" 2)") |"
	done
}

echo "# containers-bench $(date -u +%Y-%m-%dT%H:%MZ) on $(uname -r), $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $CGVIEW, $(findmnt -no FSTYPE -T /var/tmp) under /var/tmp"
echo "# runs=$RUNS warmup=$WARMUP N=$N par=$PAR ps=$NPS settle=${SETTLE}s; loadavg at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# cpu pressure at start: $(head -1 /proc/pressure/cpu 2>/dev/null)"
for e in hako podman docker; do [ -n "${VERSION[$e]:-}" ] && echo "# $e: ${VERSION[$e]}"; done
echo "# every container: a network namespace with only lo (--network none for all three)"
for n in "${NOTES[@]}"; do echo "# NOTE: $n"; done
NHEAD=${#NOTES[@]}

# ---- 1. run --rm latency
for e in "${ENGINES[@]}"; do
	over_budget && { skipped "run-$e"; continue; }
	log "run --rm: $e"
	hf "run-$e" "$RUNS" "$WARMUP" "${CLI[$e]} run --rm ${RUNARGS[$e]} busybox true"
done
table_latency "run --rm busybox true ($RUNS runs, warmup $WARMUP)" run

# ---- 2. exec latency
for e in "${ENGINES[@]}"; do
	over_budget && { skipped "exec-$e"; continue; }
	log "exec: $e"
	if timeout 60 ${CLI[$e]} run -d ${RUNARGS[$e]} --name bench-exec busybox sleep 1000 >/dev/null; then
		hf "exec-$e" "$RUNS" "$WARMUP" "${CLI[$e]} exec bench-exec true"
	else
		STAT[exec-$e]=FAIL; log "exec $e: could not start the container"
	fi
	timeout 60 ${CLI[$e]} rm -f ${RMARGS[$e]} bench-exec >/dev/null 2>&1 || true
done
table_latency "exec CONTAINER true into \`run -d busybox sleep 1000\` ($RUNS runs, warmup $WARMUP)" exec

# ---- 3. N x run --rm, PAR-way parallel
for e in "${ENGINES[@]}"; do
	over_budget && { skipped "par-$e"; continue; }
	log "$N x run --rm, $PAR-way: $e"
	# failures are counted, not fatal: each failing container's stderr is kept
	hf "par-$e" 3 0 "seq $N | xargs -P $PAR -I{} ${CLI[$e]} run --rm ${RUNARGS[$e]} busybox true 2>>$RES/par-$e.err" -i
	if [ "${FAILED[par-$e]:-0}" != 0 ]; then
		NOTES+=("$e: $N × run --rm, $PAR-way: ${FAILED[par-$e]} of 3 batches had a failing container; stderr: $(sort "$RES/par-$e.err" | uniq -c | sort -rn | head -2 | awk '{$1=$1 "×"; print}' | paste -sd ';')")
	fi
	rm_all "$e"
done
echo
echo "### $N × run --rm busybox true, $PAR-way parallel (xargs -P$PAR), wall time (median of 3)"
echo
echo "| engine | median s | min s | containers/s | median vs $BASE | batches with a failed container |"
echo "|---|---:|---:|---:|---:|---:|"
for e in "${ENGINES[@]}"; do
	m="$(field "par-$e" 2)"
	num "$m" || { echo "| $e | ${STAT[par-$e]:-FAIL} | | | | |"; continue; }
	echo "| $e | $(fmt "$(awk -v m="$m" 'BEGIN{print m/1000}')" 2) | $(fmt "$(awk -v m="$(field "par-$e" 1)" 'BEGIN{print m/1000}')" 2) | $(awk -v m="$m" -v n="$N" 'BEGIN{printf "%.1f", n/(m/1000)}') | $(ratio "$m" "$(field "par-$BASE" 2)") | ${FAILED[par-$e]:-0}/3 |"
done

# ---- 4. memory of supervision per idle container
# The supervisors are the parents of the containers' init processes (hako:
# the one monitor; podman: one conmon each; docker: one containerd-shim
# each): their summed RSS and PSS (/proc/PID/smaps_rollup), KiB.
mem() { # pids...: "count rss pss"
	local p r s n=0 R=0 S=0
	for p in "$@"; do
		read -r r s < <(awk '/^Rss:/ {r=$2} /^Pss:/ {s=$2} END {print r+0, s+0}' "/proc/$p/smaps_rollup" 2>/dev/null || echo "0 0")
		n=$((n + 1)) R=$((R + r)) S=$((S + s))
	done
	echo "$n $R $S"
}
supervisors() { # engine count: pids of the parents of containers bench-idle-1..count
	local e="$1" names pids
	names="$(seq -f "bench-idle-%g" 1 "$2")"
	pids="$(timeout 60 ${CLI[$e]} inspect --format '{{.State.Pid}}' $names | grep -v '^0$' | paste -sd,)"
	[ -n "$pids" ] && ps -o ppid= -p "$pids" | awk '{print $1}' | sort -un
}
daemons() { # engine: pids of its daemons
	case "$1" in
	hako) echo "$HAKO_PID" ;;
	docker) echo "$DOCKERD_PID $CONTAINERD_PID" ;;
	esac
}
declare -A MEM
for e in "${ENGINES[@]}"; do
	over_budget && { log "memory $e: skipped (budget)"; MEM[$e-skip]=1; continue; }
	log "memory: $e (up to $N idle containers)"
	have=0 ok=1
	for at in 1 10 "$N"; do
		while [ "$have" -lt "$at" ]; do
			have=$((have + 1))
			if ! out="$(timeout 60 ${CLI[$e]} run -d ${RUNARGS[$e]} --name "bench-idle-$have" busybox sleep 100000 2>&1)"; then
				log "memory $e: run -d #$have failed: $out"; ok=0; break 2
			fi
		done
		sleep 0.5
		sups="$(supervisors "$e" "$at")"
		for p in $sups; do SUPS+=("$p"); done
		MEM[$e-fresh-$at]="$(mem $sups)"
		sleep "$SETTLE"
		MEM[$e-$at]="$(mem $sups)"
		MEM[$e-daemon-$at]="$(mem $(daemons "$e"))"
		if [ "$e" = hako ]; then
			MON_PID="$(cat "$W/hako/run/monitor/monitor.pid" 2>/dev/null || true)"
			[ "$sups" = "$MON_PID" ] || log "hako: the containers' parents ($sups) are not the monitor ($MON_PID)"
		fi
	done
	[ "$ok" = 1 ] || MEM[$e-fail]=1
	rm_all "$e"
done
mf() { echo "${MEM[$1]:-}" | awk -v i="$2" '{print $i}'; } # key field (1 count, 2 rss, 3 pss)
echo
echo "### Supervision memory of idle containers (\`run -d busybox sleep 100000\`), KiB, measured ${SETTLE} s after the last start"
echo
echo "Supervisors: the parents of the containers' processes; sums over them. Daemon: hako's daemon; dockerd + containerd; podman has none."
echo
echo "| engine | supervisor processes @1/@10/@$N | PSS @1 | PSS @10 | PSS @$N | RSS @1 | RSS @10 | RSS @$N | PSS @$N 0.5 s after start | daemon RSS @1 | daemon RSS @$N |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for e in "${ENGINES[@]}"; do
	[ -z "${MEM[$e-skip]:-}" ] || { echo "| $e | SKIP | | | | | | | | | |"; continue; }
	[ -z "${MEM[$e-fail]:-}" ] || { echo "| $e | FAIL | | | | | | | | | |"; continue; }
	case "$e" in hako) sv=monitor ;; podman) sv=conmon ;; docker) sv=containerd-shim ;; esac
	d1="$(mf "$e-daemon-1" 2)"; dN="$(mf "$e-daemon-$N" 2)"
	[ "$e" = podman ] && d1="- (none)" && dN="-"
	echo "| $e | $(mf "$e-1" 1)/$(mf "$e-10" 1)/$(mf "$e-$N" 1) $sv | $(mf "$e-1" 3) | $(mf "$e-10" 3) | $(mf "$e-$N" 3) | $(mf "$e-1" 2) | $(mf "$e-10" 2) | $(mf "$e-$N" 2) | $(mf "$e-fresh-$N" 3) | $d1 | $dN |"
done
echo
echo "| engine | marginal PSS/container (@$N − @10)/$((N - 10)) | marginal RSS/container | average PSS/container @$N | average RSS/container @$N | marginal PSS vs $BASE |"
echo "|---|---:|---:|---:|---:|---:|"
declare -A MARG
for e in "${ENGINES[@]}"; do
	[ -z "${MEM[$e-skip]:-}${MEM[$e-fail]:-}" ] || continue
	MARG[$e]="$(awk -v a="$(mf "$e-$N" 3)" -v b="$(mf "$e-10" 3)" -v n="$((N - 10))" 'BEGIN{printf "%.1f", (a-b)/n}')"
done
for e in "${ENGINES[@]}"; do
	[ -n "${MARG[$e]:-}" ] || { echo "| $e | - | | | | |"; continue; }
	echo "| $e | ${MARG[$e]} | $(awk -v a="$(mf "$e-$N" 2)" -v b="$(mf "$e-10" 2)" -v n="$((N - 10))" 'BEGIN{printf "%.1f", (a-b)/n}') | $(awk -v a="$(mf "$e-$N" 3)" -v n="$N" 'BEGIN{printf "%.1f", a/n}') | $(awk -v a="$(mf "$e-$N" 2)" -v n="$N" 'BEGIN{printf "%.1f", a/n}') | $(ratio "${MARG[$e]}" "${MARG[$BASE]:-}") |"
done

# ---- 5. ps -a over NPS created containers
for e in "${ENGINES[@]}"; do
	over_budget && { skipped "ps-$e"; continue; }
	log "ps -a with $NPS created containers: $e"
	rm_all "$e"
	seq "$NPS" | timeout 240 xargs -P "$PAR" -I{} ${CLI[$e]} create ${RUNARGS[$e]} busybox true >/dev/null 2>"$RES/create-$e.err" ||
		NOTES+=("$e: $PAR-way create: $(sort "$RES/create-$e.err" | uniq -c | sort -rn | head -1 | awk '{$1=$1 "×"; print}') (topped up one by one)")
	have="$(timeout 60 ${CLI[$e]} ps -aq | wc -l)"
	while [ "$have" -lt "$NPS" ] && timeout 60 ${CLI[$e]} create ${RUNARGS[$e]} busybox true >/dev/null; do have=$((have + 1)); done
	if [ "$have" -ne "$NPS" ]; then
		log "ps $e: $have containers instead of $NPS"; STAT[ps-$e]=FAIL
	else
		hf "ps-$e" "$RUNS" "$WARMUP" "${CLI[$e]} ps -a"
	fi
	rm_all "$e"
done
table_latency "ps -a with $NPS created containers ($RUNS runs, warmup $WARMUP)" ps

# ---- summary
echo
echo "### Summary (medians; ratios: engine / $BASE)"
echo
hdr="| |" sep="|---|"
for e in "${ENGINES[@]}"; do hdr="$hdr $e |"; sep="$sep---:|"; done
for e in "${ENGINES[@]}"; do [ "$e" = "$BASE" ] || { hdr="$hdr $e/$BASE |"; sep="$sep---:|"; }; done
echo "$hdr"; echo "$sep"
row() { # label values... (one per engine)
	local label="$1" line i v
	shift
	local vals=("$@")
	line="| $label |"
	for v in "${vals[@]}"; do line="$line ${v:--} |"; done
	for i in "${!ENGINES[@]}"; do
		[ "${ENGINES[$i]}" = "$BASE" ] || line="$line $(ratio "${vals[$i]}" "${vals[0]}") |"
	done
	echo "$line"
}
vals() { local e; for e in "${ENGINES[@]}"; do "$@" "$e"; done; }
v_lat() { fmt "$(field "$1-$2" 2)"; echo; }
v_par() { num "$(field "par-$1" 2)" && fmt "$(awk -v m="$(field "par-$1" 2)" 'BEGIN{print m/1000}')" 2 || printf -- -; echo; }
v_marg() { echo "${MARG[$1]:--}"; }
v_avg() { [ -n "${MARG[$1]:-}" ] && awk -v a="$(mf "$1-$N" 3)" -v n="$N" 'BEGIN{printf "%.1f\n", a/n}' || echo -; }
v_rssm() { [ -n "${MARG[$1]:-}" ] && awk -v a="$(mf "$1-$N" 2)" -v b="$(mf "$1-10" 2)" -v n="$((N - 10))" 'BEGIN{printf "%.1f\n", (a-b)/n}' || echo -; }
v_dmn() { [ "$1" = podman ] && { echo -; return; }; mf "$1-daemon-$N" 2 | grep . || echo -; }
mapfile -t a < <(vals v_lat run); row "run --rm busybox true, ms" "${a[@]}"
mapfile -t a < <(vals v_lat exec); row "exec CONTAINER true, ms" "${a[@]}"
mapfile -t a < <(vals v_par); row "$N × run --rm, $PAR-way, s" "${a[@]}"
mapfile -t a < <(vals v_marg); row "supervision PSS per idle container (marginal), KiB" "${a[@]}"
mapfile -t a < <(vals v_rssm); row "supervision RSS per idle container (marginal), KiB" "${a[@]}"
mapfile -t a < <(vals v_avg); row "supervision PSS per container, average @$N, KiB" "${a[@]}"
mapfile -t a < <(vals v_dmn); row "daemon RSS @$N containers, KiB" "${a[@]}"
mapfile -t a < <(vals v_lat ps); row "ps -a, $NPS containers, ms" "${a[@]}"

echo
for n in "${NOTES[@]:$NHEAD}"; do echo "# NOTE: $n"; done
echo "# loadavg at end: $(cut -d' ' -f1-3 /proc/loadavg); cpu pressure: $(head -1 /proc/pressure/cpu 2>/dev/null); $((SECONDS - START)) s"
