#!/usr/bin/env bash
# The README's main-job command. Until the proxy and control plane exist it
# sets up, builds everything and says what is built so far.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
bazel build //...
echo
echo "Built so far (bazel query 'kind(\"cc_(binary|test)\", //...)'):"
bazel query 'kind("cc_(binary|test)", //...)' 2>/dev/null | sed 's/^/  /'
