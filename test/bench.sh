#!/usr/bin/env bash
# make bench [BENCH_NODES=20] [BENCH_ARGS='-keep -reps 3']: benchmarks swarmctl
# on a lab of BENCH_NODES machines (lab name "bench"), prints a table and
# writes bench-results/bench-N<n>-<time>.json. See docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
nodes=${BENCH_NODES:-20}
bin=${SWARMCTL_BIN:-bin/swarmctl}
echo "bench: $nodes machines, binary $bin; host: $(nproc) CPUs, $(uname -r), load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
# shellcheck disable=SC2086 # BENCH_ARGS is a list of flags
exec go run ./test/bench -n "$nodes" -bin "$bin" -out bench-results ${BENCH_ARGS:-} "$@"
