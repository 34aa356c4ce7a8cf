#!/usr/bin/env bash
# Fails when the floor plan is broken: dependencies point one way
# (proxy/ and control/ use runtime/, identity/ and proto/, never each other;
# runtime/ and identity/ use neither binary's code; identity/ stays pure but
# for runtime/status's macros), and no Bazel package is visible to everyone
# by default (each lists who may use it). Bazel's visibility enforces the
# same on targets; this also catches a stray #include.
set -uo pipefail
cd "$(dirname "$0")/.."
problems=0
forbid() {  # DIR PATTERN WHY
  local hits
  hits=$(git ls-files "$1" | grep -E '\.(h|cc)$' | xargs -r grep -nE "^#include \"($2)" || true)
  if [ -n "$hits" ]; then
    echo "layering: $3:"
    echo "$hits" | sed 's/^/  /'
    problems=$((problems + 1))
  fi
}
forbid proxy 'control/' 'proxy/ includes control/ (the two binaries share only runtime/, identity/, proto/)'
forbid control 'proxy/' 'control/ includes proxy/ (the two binaries share only runtime/, identity/, proto/)'
forbid runtime 'proxy/|control/' 'runtime/ includes a binary'"'"'s code'
forbid identity 'proxy/|control/|runtime/(event|net|sync|log|http|tls|verify|files)/' \
  'identity/ includes more than runtime/status (it is pure: no sockets, no threads)'
public=$(git ls-files '*BUILD.bazel' '*BUILD' | grep -v '^third_party/shims/' |
  xargs grep -lE 'default_visibility = \["//(visibility:public|:__subpackages__)"\]' || true)
if [ -n "$public" ]; then
  echo "layering: packages visible to everyone by default (list who may use them instead):"
  echo "$public" | sed 's/^/  /'
  problems=$((problems + 1))
fi
missing=$(git ls-files '*BUILD.bazel' | xargs grep -L 'default_visibility' || true)
if [ -n "$missing" ]; then
  echo "layering: packages without a default_visibility (say who may use them):"
  echo "$missing" | sed 's/^/  /'
  problems=$((problems + 1))
fi
[ "$problems" -eq 0 ] && echo "layering: ok"
exit $((problems > 0))
