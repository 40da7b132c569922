#!/usr/bin/env bash
# Whole-process benchmarks of the release binary against a sandbox that
# runs as its own process on loopback, as a user would run them:
#
#   1. plan of SIZE desired x SIZE live, beside its two floors:
#      `load_sources` (reads and parses the same grants files with the
#      plan's own code, nothing else) and
#      `list_live` (lists the same live assignments over HTTP, nothing else);
#   2. apply of APPLY creates to a fresh sandbox: wall time, items per
#      second, bulk calls (the sandbox's /_sandbox/stats and the report's
#      `calls`);
#   3. an apply right after it, which must make no write.
#
# Wall time, CPU time and peak memory (max RSS) come from /usr/bin/time.
# Usage: benches/run.sh            (SIZE=1000000 APPLY=100000)
#        SIZE=100000 APPLY=20000 benches/run.sh
# Needs curl and jq. Scenarios are kept under WORK between runs; the first
# run seeds the plan sandbox (tens of seconds at a million assignments).
set -euo pipefail

SIZE=${SIZE:-1000000}
APPLY=${APPLY:-100000}
WORK=${WORK:-${TMPDIR:-/tmp}/grantsync-bench-run}
PLAN_PORT=${PLAN_PORT:-18180}
APPLY_PORT=${APPLY_PORT:-18181}
REPO=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
BIN=$TARGET/release/grantsync
GEN=$TARGET/release/examples/gen_scenario
LIST=$TARGET/release/examples/list_live
LOAD=$TARGET/release/examples/load_sources

echo "== build (release)"
(cd "$REPO" && cargo build --release --quiet --bin grantsync --example gen_scenario --example list_live --example load_sources)

echo "== machine"
echo "nproc: $(nproc)"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
free -g | sed -n 2p | awk '{print "memory: " $2 " GiB"}'
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"

mkdir -p "$WORK"
SANDBOX_PIDS=()
stop_sandboxes() {
    for pid in "${SANDBOX_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    SANDBOX_PIDS=()
}
trap stop_sandboxes EXIT

# timed LABEL COMMAND...: runs COMMAND (stdout to $WORK/LABEL.out) and
# prints wall seconds, user and system CPU seconds, and max RSS.
timed() {
    local label=$1
    shift
    /usr/bin/time -f '%e %U %S %M' -o "$WORK/$label.time" "$@" >"$WORK/$label.out"
    read -r wall user sys rss <"$WORK/$label.time"
    printf '%-8s wall %6.2f s  cpu %6.2f s  max RSS %5d MiB\n' \
        "$label" "$wall" "$(awk "BEGIN {print $user + $sys}")" $((rss / 1024))
}
wall_of() { cut -d' ' -f1 "$WORK/$1.time"; }

# scenario NAME PORT GEN-ARGS...: writes the scenario unless the same one
# is there already.
scenario() {
    local name=$1 port=$2
    shift 2
    local dir=$WORK/$name
    local wanted="$* --url http://127.0.0.1:$port"
    if [[ ! -f $dir/args || $(cat "$dir/args") != "$wanted" ]]; then
        rm -rf "$dir"
        "$GEN" --out "$dir" "$@" --url "http://127.0.0.1:$port"
        echo "$wanted" >"$dir/args"
    fi
}

# start_sandbox NAME PORT [fresh]: starts the scenario's sandbox in the
# background and waits until it answers (bounded: ten minutes).
start_sandbox() {
    local dir=$WORK/$1 port=$2
    if [[ ${3:-} == fresh ]]; then rm -rf "$dir/sandbox-data"; fi
    "$BIN" sandbox --directory "$dir/directory.yaml" --data "$dir/sandbox-data" \
        --listen "127.0.0.1:$port" >"$dir/sandbox.log" 2>&1 &
    SANDBOX_PIDS+=($!)
    for _ in $(seq 1 1200); do
        curl -sf "http://127.0.0.1:$port/_sandbox/stats" >/dev/null && return 0
        kill -0 "${SANDBOX_PIDS[-1]}" 2>/dev/null || break
        sleep 0.5
    done
    echo "sandbox $1 did not start; see $dir/sandbox.log" >&2
    exit 1
}
stats() { curl -sf "http://127.0.0.1:$1/_sandbox/stats"; }
route() { jq -r --arg r "$1" '.by_route[$r] // 0'; }

echo
echo "== plan: $SIZE desired x $SIZE live (5% creates, 5% window changes, 5% revokes)"
scenario plan "$PLAN_PORT" --desired "$SIZE" --live "$SIZE" --creates 0.05 --updates 0.05
PLAN=$WORK/plan
start_sandbox plan "$PLAN_PORT"
timed parse "$LOAD" "$PLAN/grantsync.yaml"
timed list "$LIST" --url "http://127.0.0.1:$PLAN_PORT" --key-file "$PLAN/sandbox.key"
before=$(stats "$PLAN_PORT")
timed plan "$BIN" plan -c "$PLAN/grantsync.yaml" --state-dir "$PLAN/state" --format json
after=$(stats "$PLAN_PORT")
pages=$(($(route 'GET /api/v1/assignments' <<<"$after") - $(route 'GET /api/v1/assignments' <<<"$before")))
echo "summary: $(jq -c '.environments[0].summary' "$WORK/plan.out")"
echo "listing pages: $pages (expected $(((SIZE + 999) / 1000)))"
awk -v p="$(wall_of plan)" -v a="$(wall_of parse)" -v b="$(wall_of list)" \
    'BEGIN {printf "plan / (parse + list) = %.2f (target 1.5)\n", p / (a + b)}'
stop_sandboxes

echo
echo "== apply: $APPLY creates to a fresh sandbox"
scenario apply "$APPLY_PORT" --desired "$APPLY" --live 0 --creates 1 --updates 0
APPLYDIR=$WORK/apply
rm -rf "$APPLYDIR/state"
start_sandbox apply "$APPLY_PORT" fresh
timed apply "$BIN" apply -c "$APPLYDIR/grantsync.yaml" --state-dir "$APPLYDIR/state" --format json
after=$(stats "$APPLY_PORT")
bulk=$(route 'POST /api/v1/assignments/bulk-create' <<<"$after")
echo "outcomes: $(jq -c '.environments[0].outcomes' "$WORK/apply.out")"
echo "bulk calls: $bulk (expected $(((APPLY + 499) / 500))); sandbox writes: $(jq .writes <<<"$after"); report calls: $(jq -c '.environments[0].calls | {reads, writes, retries}' "$WORK/apply.out")"
awk -v n="$APPLY" -v w="$(wall_of apply)" 'BEGIN {printf "items per second: %.0f (target 50000)\n", n / w}'

echo
echo "== no-op apply right after"
timed noop "$BIN" apply -c "$APPLYDIR/grantsync.yaml" --state-dir "$APPLYDIR/state" --format json
again=$(stats "$APPLY_PORT")
echo "summary: $(jq -c '.environments[0].summary | {create, unchanged}' "$WORK/noop.out")"
echo "write calls: $(($(jq .writes <<<"$again") - $(jq .writes <<<"$after"))) (sandbox), $(jq '.environments[0].calls.writes' "$WORK/noop.out") (report); expected 0"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
