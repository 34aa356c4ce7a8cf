#!/usr/bin/env bash
# The caller-identity benchmark: HTTP/1.1 64 B request/response through an
# inbound listener with the identity header injected, the same without, and
# nginx as an mTLS gateway passing the client's subject, in one run. Not a
# test: it measures, it does not judge.
# Usage: bench/caller_identity/run.sh [--seconds=5] [--connections=16] [--repeat=3]
set -euo pipefail
cd "$(dirname "$0")/../.."
tools/setup.sh
bazel build --config=opt //proxy:palisade-proxy //bench/proxy_chain:chain_certs
bin=$(bazel info --config=opt bazel-bin 2>/dev/null)
exec python3 bench/caller_identity/caller_identity.py --bin="$bin" \
  --out="${TMPDIR:-/tmp}/palisade-caller-identity.json" "$@"
