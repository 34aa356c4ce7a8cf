#!/usr/bin/env bash
# Runs overview_test.js with playwright-core (package-lock.json), installed
# into a cache outside the source tree keyed by the lock file's hash: the
# first run needs the npm registry, later runs reuse it. The browser is
# Debian's /usr/bin/chromium (tools/setup.sh installs it); Playwright's own
# browser download is never used. PALISADE_NPM_CACHE overrides the cache.
set -euo pipefail

lock=tests/browser/package-lock.json
key=$(sha256sum "$lock" | cut -c1-16)
cache=${PALISADE_NPM_CACHE:-/tmp/palisade-npm-cache}/browser-$key
mkdir -p "$cache"
(
  flock 9
  if [ ! -f "$cache/installed" ]; then
    cp tests/browser/package.json "$lock" "$cache/"
    echo "overview_test: npm ci into $cache" >&2
    (cd "$cache" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 \
      npm ci --no-audit --no-fund --loglevel=error --cache "$cache/.npm") >&2
    touch "$cache/installed"
  fi
) 9>"$cache.lock"

NODE_PATH="$cache/node_modules" exec node tests/browser/overview_test.js
