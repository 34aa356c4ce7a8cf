#!/usr/bin/env bash
# Runs k8s_schema_test.js with its npm packages (package-lock.json), kept in
# a cache outside the source tree keyed by the lock file's hash: the first
# run needs the npm registry (`npm ci`, about 10 s), later runs reuse it.
# PALISADE_NPM_CACHE overrides the cache folder.
set -euo pipefail

lock=tests/k8s/package-lock.json
key=$(sha256sum "$lock" | cut -c1-16)
cache=${PALISADE_NPM_CACHE:-/tmp/palisade-npm-cache}/k8s-$key
mkdir -p "$cache"
(
  flock 9  # one installer at a time; the others wait and reuse its result
  if [ ! -f "$cache/installed" ]; then
    cp tests/k8s/package.json "$lock" "$cache/"
    echo "k8s_schema_test: npm ci into $cache" >&2
    (cd "$cache" && npm ci --no-audit --no-fund --loglevel=error --cache "$cache/.npm") >&2
    touch "$cache/installed"
  fi
) 9>"$cache.lock"

NODE_PATH="$cache/node_modules" exec node tests/k8s/k8s_schema_test.js
