#!/usr/bin/env bash
# The proxy-chain benchmark: Palisade and haproxy (Debian) as the same two
# mTLS hops, side by side in one run. Not a test: it measures, it does not
# judge. Usage: bench/proxy_chain/run.sh [--quick] [--repeat=5] [--seconds=5]
#   [--bytes=4294967296] [--hold=1000] [--metrics_cost] ...
set -euo pipefail
cd "$(dirname "$0")/../.."
tools/setup.sh
bazel build --config=opt //proxy:palisade-proxy //tests/util:echo_server \
  //bench/proxy_chain:loadgen //bench/proxy_chain:chain_certs
bin=$(bazel info --config=opt bazel-bin 2>/dev/null)
exec python3 bench/proxy_chain/proxy_chain.py --bin="$bin" --out="${TMPDIR:-/tmp}/palisade-proxy-chain.json" "$@"
