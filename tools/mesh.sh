#!/usr/bin/env bash
# The README's main job: a local Palisade mesh on loopback. Installs what is
# missing, builds the optimised binaries, then runs deploy/local/mesh.py:
# palisade-control with a fresh development CA, three demo workloads with a
# palisade-proxy each, 60 s SVIDs rotating live, until Ctrl-C.
#   tools/mesh.sh [--base-port=N] [--svid-ttl=60s] [--duration=SECONDS] [--keep]
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
bazel build --config=opt //proxy:palisade-proxy //control:palisade-control
exec python3 deploy/local/mesh.py --bin-dir="$(bazel info --config=opt bazel-bin 2>/dev/null)" "$@"
