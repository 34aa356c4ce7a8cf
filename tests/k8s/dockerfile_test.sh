#!/usr/bin/env bash
# What can be checked of deploy/docker without a container engine: the
# builder installs only packages tools/setup.sh installs; the runtime stage
# installs every Debian package that provides a shared library the built
# palisade-proxy loads (libc6, libgcc-s1 and libstdc++6 come with
# debian:12-slim); the image runs as uid 1337 and carries the capture script.
set -euo pipefail
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# Package names listed in a Dockerfile stage's apt-get install.
packages() {  # FILE STAGE_INDEX(0 build, 1 run)
  awk -v want="$2" '/^FROM /{stage++} stage==want+1' "$1" |
    sed -n '/apt-get install/,/rm -rf/p' | tr ' \\' '\n\n' |
    grep -E '^[a-z0-9][a-z0-9.+-]+$' | grep -v -E '^(apt-get|install|rm|update|DEBIAN_FRONTEND.*)$' || true
}
setup=$(sed -n '/^PACKAGES=(/,/^)/p' tools/setup.sh)

for f in deploy/docker/Dockerfile.proxy deploy/docker/Dockerfile.control; do
  for p in $(packages "$f" 0); do
    grep -qw -- "$p" <<<"$setup" || fail "$f: builder installs $p, which tools/setup.sh does not"
  done
  grep -q '^USER 1337:1337$' "$f" || fail "$f: does not run as 1337"
done

runtime=$(packages deploy/docker/Dockerfile.proxy 1)
# The system libraries the proxy loads (not Bazel's own, which a fastbuild
# links one per target), by their real path, then their packages in one
# dpkg query (one query per library takes most of a minute).
libs=()
for lib in $(ldd proxy/palisade-proxy | awk '/=>/{print $3}'); do
  real=$(readlink -f "$lib")
  case "$real" in /usr/* | /lib/* | /lib64/*) libs+=("$real" "$lib") ;; esac
done
owners=$(dpkg -S "${libs[@]}" 2>/dev/null || true)
for ((i = 0; i < ${#libs[@]}; i += 2)); do
  real=${libs[i]} lib=${libs[i + 1]}
  pkg=$(awk -v p="$real" -v l="$lib" -F': ' '$2 == p || $2 == l {print $1; exit}' <<<"$owners")
  pkg=${pkg%%,*}
  pkg=${pkg%%:*}
  case "$pkg" in libc6 | libgcc-s1 | libstdc++6 | "") continue ;; esac
  grep -qx -- "$pkg" <<<"$runtime" || fail "Dockerfile.proxy: runtime lacks $pkg (for $lib)"
done
grep -qx iptables <<<"$runtime" || fail "Dockerfile.proxy: runtime lacks iptables"
grep -q 'palisade-iptables.sh /usr/local/bin/palisade-iptables.sh' deploy/docker/Dockerfile.proxy ||
  fail "Dockerfile.proxy: no capture script where the injector runs it"

[ "$failures" -eq 0 ] && echo "dockerfile_test: ok" || exit 1
