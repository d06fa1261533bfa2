#!/usr/bin/env bash
# Compares two builds of a benchmark by running them at the same time, one
# per core: on a shared host the same binary's CPU per event drifts by up to
# a quarter between runs minutes apart, and running the pair together puts
# the same drift on both (BENCHMARKS.md, twenty-first session).
#
#   tools/ab.sh BASE_REV [NEW_REV] [-- BENCH_ARGS...]
#
# NEW_REV defaults to the working tree. BENCH_ARGS default to
# `"ingest/" --warm-up-time 1 --measurement-time 10`. The benchmark is
# AB_BENCH (default hot_paths), run AB_ROUNDS times (default 2); the
# PROFILEDB_* variables reach both runs unchanged (for hot_paths set
# PROFILEDB_HOT_PROFILES, PROFILEDB_LATENCY_CALLS, PROFILEDB_CPU_SECONDS).
# Outputs go to AB_OUT (default a new directory under /tmp); the lines
# that compare (loading, per-call latency, the CPU pass, criterion's
# estimates) are printed side by side at the end.
set -euo pipefail

usage() {
    sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

[[ $# -ge 1 && $1 != -- ]] || usage
base_rev=$1
shift
new_rev=""
if [[ $# -ge 1 && $1 != -- ]]; then
    new_rev=$1
    shift
fi
if [[ $# -ge 1 ]]; then
    [[ $1 == -- ]] || usage
    shift
fi
args=("$@")
if [[ ${#args[@]} -eq 0 ]]; then
    args=("ingest/" --warm-up-time 1 --measurement-time 10)
fi
bench=${AB_BENCH:-hot_paths}
rounds=${AB_ROUNDS:-2}
root=$(git rev-parse --show-toplevel)
out=${AB_OUT:-$(mktemp -d /tmp/profiledb-ab.XXXXXX)}
mkdir -p "$out"

# Builds the benchmark in directory $1 and copies its executable to $2.
build() {
    local dir=$1 dest=$2 exe
    exe=$( (cd "$dir" && cargo build --release --bench "$bench" --message-format=json 2>/dev/null || true) |
        python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == sys.argv[1] and m.get("executable"):
        print(m["executable"])
' "$bench" | tail -n 1)
    if [[ -z $exe ]]; then
        echo "ab: building $bench in $dir failed (run cargo build --release --bench $bench there to see why)" >&2
        return 1
    fi
    cp "$exe" "$dest"
}

# A worktree of revision $1, built, into $2.
build_rev() {
    local rev=$1 dest=$2 tree
    git -C "$root" rev-parse --verify --quiet "$rev^{commit}" >/dev/null || {
        echo "ab: $rev is not a commit of $root" >&2
        exit 2
    }
    tree=$(mktemp -d /tmp/profiledb-ab-tree.XXXXXX)
    git -C "$root" worktree add --quiet --detach "$tree" "$rev"
    local built=0
    build "$tree" "$dest" || built=1
    git -C "$root" worktree remove --force "$tree"
    [[ $built -eq 0 ]] || exit 1
}

echo "ab: building $bench at $base_rev and at ${new_rev:-the working tree} (outputs in $out)" >&2
build_rev "$base_rev" "$out/base"
if [[ -n $new_rev ]]; then
    build_rev "$new_rev" "$out/new"
else
    build "$root" "$out/new" || exit 1
fi

for round in $(seq 1 "$rounds"); do
    echo "ab: round $round of $rounds" >&2
    for side in base new; do
        # A directory each: criterion keeps its baselines under the
        # working directory, and the two runs must not share them.
        mkdir -p "$out/$side.d"
        (cd "$out/$side.d" && "../$side" --bench "${args[@]}" >"../$side.$round.txt" 2>&1) &
    done
    wait
done

for round in $(seq 1 "$rounds"); do
    for side in base new; do
        echo "== round $round, $side"
        grep -E '^(loaded|latency |cpu .*writer)|time: |thrpt: ' "$out/$side.$round.txt" || true
    done
done
