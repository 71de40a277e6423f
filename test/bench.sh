#!/usr/bin/env bash
# make bench [BENCH_NODES=20] [BENCH_ARGS='-keep -reps 3']: benchmarks swarmctl
# on a lab of BENCH_NODES machines (lab name "bench"), prints a table and
# writes bench-results/bench-N<n>-<time>.json. See docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
nodes=${BENCH_NODES:-20}
bin=${SWARMCTL_BIN:-bin/swarmctl}
# Every lab machine runs systemd, which holds several inotify instances; the
# kernel's default of 128 per user runs out at about 40 machines on a host.
if [ "$(cat /proc/sys/fs/inotify/max_user_instances)" -lt 1024 ] && [ -w /proc/sys/fs/inotify/max_user_instances ]; then
  echo 1024 > /proc/sys/fs/inotify/max_user_instances
  echo "bench: raised fs.inotify.max_user_instances to 1024" >&2
fi
echo "bench: $nodes machines, binary $bin; host: $(nproc) CPUs, $(uname -r), load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
# shellcheck disable=SC2086 # BENCH_ARGS is a list of flags
exec go run ./test/bench -n "$nodes" -bin "$bin" -out bench-results ${BENCH_ARGS:-} "$@"
