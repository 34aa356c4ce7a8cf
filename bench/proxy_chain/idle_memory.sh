#!/usr/bin/env bash
# Idle memory of one proxy (file identity, control-plane identity) and per idle
# mTLS connection, Palisade beside haproxy (Debian) in one run: see
# idle_memory.py. Usage: bench/proxy_chain/idle_memory.sh [--repeat=3] [--hold=1000]
set -euo pipefail
cd "$(dirname "$0")/../.."
tools/setup.sh
bazel build --config=opt //proxy:palisade-proxy //control:palisade-control \
  //tests/util:echo_server //bench/proxy_chain:loadgen //bench/proxy_chain:chain_certs
bin=$(bazel info --config=opt bazel-bin 2>/dev/null)
exec python3 bench/proxy_chain/idle_memory.py --bin="$bin" \
  --out="${TMPDIR:-/tmp}/palisade-idle-memory.json" "$@"
