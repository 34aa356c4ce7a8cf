#!/usr/bin/env bash
# Runs the identity micro-benchmarks and, in the same run, BoringSSL's own
# `bssl speed` for ECDSA P-256 sign/verify, and prints our figures beside the raw
# ones with ratios per signature made or verified.
#
#   bench/identity_vs_bssl.sh [--min-time SECONDS] [--repetitions N]
#
# Goals (issue 3): chain verification within 1.5x of the raw verify cost per
# signature verified; issuance within 1.5x of the raw sign cost. Both tools time
# wall-clock ("real") time, so the ratios use real time; our CPU time is shown too.
# The machine is shared: bssl speed runs before and after ours and its mean is used.
set -euo pipefail
cd "$(dirname "$0")/.."

min_time=1
repetitions=3
while [ $# -gt 0 ]; do
  case "$1" in
    --min-time) min_time=$2; shift 2 ;;
    --repetitions) repetitions=$2; shift 2 ;;
    *) echo "usage: $0 [--min-time SECONDS] [--repetitions N]" >&2; exit 2 ;;
  esac
done

bssl=$(command -v bssl || command -v bssl-tool || true)
[ -n "$bssl" ] || { echo "bssl not found (Debian package android-boringssl)" >&2; exit 1; }

bazel build --config=opt //bench:identity_bench >&2
bench_bin=$(bazel info --config=opt bazel-bin 2>/dev/null)/bench/identity_bench

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

run_bssl() {
  "$bssl" speed -filter "ECDSA P-256" -timeout "$min_time" -json >"$out/bssl_$1.json"
}

echo "== bssl speed (before)" >&2
run_bssl before
echo "== identity_bench" >&2
"$bench_bin" --benchmark_min_time="$min_time" --benchmark_repetitions="$repetitions" \
  --benchmark_report_aggregates_only=true --benchmark_format=json >"$out/ours.json"
echo "== bssl speed (after)" >&2
run_bssl after

python3 - "$out" "$bssl" <<'PY'
import json, sys, os

out, bssl = sys.argv[1], sys.argv[2]

def bssl_us(path):
    with open(path) as f:
        return {r["description"]: r["microseconds"] / r["numCalls"] for r in json.load(f)}

before = bssl_us(os.path.join(out, "bssl_before.json"))
after = bssl_us(os.path.join(out, "bssl_after.json"))
raw = {k: (before[k] + after[k]) / 2 for k in before}
sign, verify = raw["ECDSA P-256 signing"], raw["ECDSA P-256 verify"]

with open(os.path.join(out, "ours.json")) as f:
    data = json.load(f)
scale = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}
ours = {}
for b in data["benchmarks"]:
    if b.get("aggregate_name") != "median":
        continue
    name = b["run_name"]
    k = scale[b["time_unit"]]
    ours[name] = (b["real_time"] * k, b["cpu_time"] * k)

# name, what one operation costs in raw signatures, goal ratio (None = information only)
rows = [
    ("BM_SpiffeIdParse", None, None),
    ("BM_VerifyRootToLeaf", ("verify", 1), 1.5),
    ("BM_VerifyRootToIntermediateToLeaf", ("verify", 2), 1.5),
    ("BM_VerifyDerRootToIntermediateToLeaf", ("verify", 2), None),
    ("BM_ParseAndCheckCsr", ("verify", 1), None),
    ("BM_GenerateP256Key", None, None),
    ("BM_CreateCsr", ("sign", 1), None),
    ("BM_IssueSvid", ("sign", 1), 1.5),
    ("BM_RawEcdsaP256Sign", ("sign", 1), None),
    ("BM_RawEcdsaP256Verify", ("verify", 1), None),
]

host = os.uname()
print(f"host {host.nodename} ({os.cpu_count()} CPUs), load average "
      + " ".join(f"{x:.2f}" for x in os.getloadavg()))
print(f"{bssl} speed, ECDSA P-256 (mean of a run before and one after ours):")
print(f"  signing {sign:8.1f} us/op  ({1e6 / sign:8.0f}/s)   "
      f"runs: {before['ECDSA P-256 signing']:.1f}, {after['ECDSA P-256 signing']:.1f} us")
print(f"  verify  {verify:8.1f} us/op  ({1e6 / verify:8.0f}/s)   "
      f"runs: {before['ECDSA P-256 verify']:.1f}, {after['ECDSA P-256 verify']:.1f} us")
print()
raw_cpu = {"sign": ours.get("BM_RawEcdsaP256Sign", (0, 0))[1],
           "verify": ours.get("BM_RawEcdsaP256Verify", (0, 0))[1]}
header = (f"{'benchmark (median)':40} {'real us':>9} {'cpu us':>9} {'raw basis':>16} "
          f"{'bssl us':>9} {'ratio':>6} {'cpu ratio':>9}  goal")
print(header)
print("-" * len(header))
failed = []
for name, basis, goal in rows:
    if name not in ours:
        continue
    real, cpu = ours[name]
    if basis is None:
        print(f"{name:40} {real:9.2f} {cpu:9.2f} {'-':>16} {'-':>9} {'-':>6} {'-':>9}")
        continue
    kind, count = basis
    raw_us = (sign if kind == "sign" else verify) * count
    ratio = real / raw_us
    verdict = ""
    if goal is not None:
        verdict = f"<= {goal}: " + ("met" if ratio <= goal else "MISSED")
        if ratio > goal:
            failed.append(name)
    cpu_ratio = cpu / (raw_cpu[kind] * count) if raw_cpu[kind] else float("nan")
    print(f"{name:40} {real:9.2f} {cpu:9.2f} {f'{count} x {kind}':>16} {raw_us:9.1f} "
          f"{ratio:6.2f} {cpu_ratio:9.2f}  {verdict}")
print()
print("ratio     = our real time / (raw signatures per operation x bssl speed us per signature)")
print("cpu ratio = our CPU time / (raw signatures per operation x in-process raw ECDSA CPU time,")
print("            BM_RawEcdsaP256*): the same comparison, less exposed to other load")
if failed:
    print("goals missed: " + ", ".join(failed))
PY
