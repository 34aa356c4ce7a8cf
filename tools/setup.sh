#!/usr/bin/env bash
# Installs every Debian package that the build, tests, benchmarks and demo need.
# Idempotent: a fast no-op when everything is present; `apt-get update` only when
# something is missing. Run as root (or with sudo available) on Debian 12.
set -euo pipefail

PACKAGES=(
  # build
  bazel-bootstrap default-jre-headless clang-14 libclang-rt-14-dev libfuzzer-14-dev lld-14
  g++ pkg-config clang-format-14 git ca-certificates
  # libraries
  android-libboringssl-dev android-boringssl
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  prometheus-cpp-dev libevent-dev libyaml-cpp-dev libspdlog-dev libfmt-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev libbenchmark-dev libhttp-parser-dev
  # real peers and tools used by tests, benchmarks and the demo
  openssl curl prometheus haproxy stunnel4 nginx-light libnginx-mod-stream wrk iperf3 hyperfine
  iproute2 iptables procps psmisc python3 time
  valgrind  # bench/proxy_chain: profile.py, startup_order.py (proxy/palisade-proxy.order)
  etcd-server etcd-client
  # browser test
  chromium chromium-driver
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed; then
    missing+=("$p")
  fi
done

# Node.js may come from elsewhere (e.g. nodesource, which bundles npm and conflicts
# with Debian's npm package); only install Debian's when there is no npm at all.
if ! command -v npm >/dev/null 2>&1; then
  missing+=(nodejs npm)
fi

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "setup: installing ${#missing[@]} missing Debian package(s): ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts these services on install; tests start their own instances.
for svc in nginx haproxy prometheus stunnel4 etcd; do
  if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then
    $SUDO systemctl stop "$svc" || true
  fi
done
echo "setup: done" >&2
