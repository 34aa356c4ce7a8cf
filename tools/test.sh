#!/usr/bin/env bash
# The README's test command: installs what is missing, then runs every test,
# once as built normally and once under AddressSanitizer + UBSan (fuzz targets
# fuzz for a bounded time in that run), plus the format check. Ends with the
# line "N passed, N failed" (test cases that ran, read from Bazel's test XML)
# and exits non-zero if any failed or none ran.
#
#   tools/test.sh               everything
#   tools/test.sh --quick       the normal run only (no sanitizer run)
set -uo pipefail
cd "$(dirname "$0")/.."

tools/setup.sh || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }

quick=0
[ "${1:-}" = "--quick" ] && quick=1

events=$(mktemp -d)
trap 'rm -rf "$events"' EXIT

run_suite() {  # name, bazel flags...
  local name=$1
  shift
  echo "== bazel test $* //..."
  bazel test --keep_going --build_event_json_file="$events/$name.json" "$@" //...
}

run_suite plain
if [ "$quick" -eq 0 ]; then
  run_suite asan --config=asan --test_tag_filters=-no_sanitizer
fi

checks=()
if tools/check_format.sh >"$events/format.log" 2>&1; then
  checks+=(--check format=passed)
else
  cat "$events/format.log"
  checks+=(--check format=failed)
fi

python3 tools/test_results.py "${checks[@]}" "$events"/*.json
