#!/usr/bin/env bash
# Issue 14's replica benchmark (README.md): builds and runs control_replicas,
# which starts a real three-member etcd, one palisade-control on the file
# store and two on etcd (all on loopback, temporary directories), and prints
# the table with the load average. Flags go to the binary, e.g. --quick for a
# smoke check, --clients=8 --rounds=5. Fastbuild by default; pass
# BAZEL_CONFIG=opt for optimised absolute figures.
set -euo pipefail
cd "$(dirname "$0")/../.."
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
config=()
[[ -n "${BAZEL_CONFIG:-}" ]] && config=(--config="$BAZEL_CONFIG")
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores," \
  "build: ${BAZEL_CONFIG:-fastbuild}"
exec bazel run "${config[@]}" //bench/control_replicas:control_replicas -- "$@"
