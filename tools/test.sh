#!/usr/bin/env bash
# The README's test command: installs what is missing, then runs every test,
# once as built normally and once under AddressSanitizer + UBSan (fuzz targets
# fuzz for a bounded time in that run), plus the format and layering checks. Prints one line
# per pass ("pass plain: N passed, N failed, N skipped (bazel exit 0, complete)"),
# the skipped cases, then ends with the line "N passed, N failed, N skipped"
# (test cases read from Bazel's build events and test XML). Exits non-zero if
# any case failed, Bazel failed, a pass did not complete, or nothing passed.
#
#   tools/test.sh               everything
#   tools/test.sh --quick       the normal run only (no sanitizer run)
set -uo pipefail
cd "$(dirname "$0")/.."

tools/setup.sh || { echo "setup failed"; echo "0 passed, 1 failed, 0 skipped"; exit 1; }

quick=0
[ "${1:-}" = "--quick" ] && quick=1

events=$(mktemp -d)
trap 'rm -rf "$events"' EXIT

passes=()
run_suite() {  # name, bazel flags...
  local name=$1
  shift
  echo "== bazel test $* //..."
  bazel test --keep_going --build_event_json_file="$events/$name.json" "$@" //...
  local status=$?
  # Bazel's own verdict counts too: an interrupted or crashed pass may have
  # written events for only some of its tests.
  passes+=(--pass "$name" "$status" "$events/$name.json")
}

run_suite plain
if [ "$quick" -eq 0 ]; then
  run_suite asan --config=asan --test_tag_filters=-no_sanitizer
fi

checks=()
for check in format layering; do  # tools/check_format.sh, tools/check_layering.sh
  if tools/check_"$check".sh >"$events/$check.log" 2>&1; then
    checks+=(--check "$check=passed")
  else
    cat "$events/$check.log"
    checks+=(--check "$check=failed")
  fi
done

python3 tools/test_results.py "${passes[@]}" "${checks[@]}"
