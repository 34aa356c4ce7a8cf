#!/usr/bin/env bash
# Fuzzes one target for a while (ASan + UBSan, coverage-guided) and merges the
# inputs that reach new code into its committed corpus, tests/fuzz/corpus/NAME.
#
#   tests/fuzz/grow_corpus.sh NAME [SECONDS]      NAME: spiffe_id, pem_bundle,
#                                                 chain_verify, csr or admin_http; 240 s
#
# libFuzzer's -merge=1 adds only inputs that cover something the corpus does
# not (named by the SHA-1 of their content, so duplicates collapse); the named
# seeds stay. Crash inputs land in the work directory it prints.
set -euo pipefail
cd "$(dirname "$0")/../.."
name=${1:?usage: $0 NAME [SECONDS]}
seconds=${2:-240}
corpus=tests/fuzz/corpus/$name
[ -d "$corpus" ] || { echo "no corpus $corpus" >&2; exit 2; }

# Built through the test target: its configuration transition is what adds
# coverage instrumentation to the fuzzer's dependencies.
bazel build --config=asan "//tests/fuzz:${name}_fuzz_test"
fuzzer=bazel-bin/tests/fuzz/${name}_fuzz_test.sh.runfiles/palisade/tests/fuzz/${name}_fuzz_test_bin
work=$(mktemp -d "${TMPDIR:-/tmp}/fuzz-$name-XXXXXX")
cp "$corpus"/* "$work"/
before=$(ls "$corpus" | wc -l)
echo "== fuzzing $name for ${seconds}s in $work"
"$fuzzer" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=30 -print_final_stats=1 \
  -artifact_prefix="$work/" "$work"
echo "== merging new coverage into $corpus"
"$fuzzer" -merge=1 -rss_limit_mb=2048 -timeout=30 "$corpus" "$work"
echo "== $corpus: $before -> $(ls "$corpus" | wc -l) files"
rm -rf "$work"
