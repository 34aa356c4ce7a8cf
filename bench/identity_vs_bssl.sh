#!/usr/bin/env bash
# Runs the identity micro-benchmarks and, in the same run, BoringSSL's own
# `bssl speed` for ECDSA P-256 sign/verify, and prints our figures beside the raw
# ones with ratios per signature made or verified.
#
#   bench/identity_vs_bssl.sh [--min-time SECONDS] [--repetitions N]
#
# Goals (issue 3): chain verification within 1.5x of the raw verify cost per
# signature verified; issuance within 1.5x of the raw sign cost.
#
# The machine is shared with other builds, so:
#  - every figure is the best (minimum) of several runs: bssl speed runs twice
#    before and twice after ours, ours runs --repetitions times (default 5);
#  - costs are compared in CPU time. bssl speed reports wall time only; its CPU
#    time per operation is its wall time scaled by the process's CPU/wall ratio
#    (getrusage of the child), which removes time spent descheduled. Wall-time
#    ratios are printed too; they are only meaningful on a quiet machine.
set -euo pipefail
cd "$(dirname "$0")/.."

min_time=1
repetitions=5
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

python3 - "$bssl" "$bench_bin" "$min_time" "$repetitions" <<'PY'
import json, os, resource, subprocess, sys, time

bssl, bench_bin, min_time, repetitions = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]


def run_bssl():
    """One `bssl speed` run: {description: (wall us/op, cpu us/op)}."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    out = subprocess.run([bssl, "speed", "-filter", "ECDSA P-256", "-timeout", min_time, "-json"],
                         check=True, capture_output=True, text=True).stdout
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    factor = min(1.0, cpu / wall)
    return {r["description"]: (r["microseconds"] / r["numCalls"],
                               factor * r["microseconds"] / r["numCalls"])
            for r in json.loads(out)}


print("== bssl speed (before)", file=sys.stderr)
runs = [run_bssl(), run_bssl()]
print("== identity_bench", file=sys.stderr)
bench = subprocess.run([bench_bin, f"--benchmark_min_time={min_time}",
                        f"--benchmark_repetitions={repetitions}", "--benchmark_format=json"],
                       check=True, capture_output=True, text=True).stdout
print("== bssl speed (after)", file=sys.stderr)
runs += [run_bssl(), run_bssl()]

raw = {k: (min(r[k][0] for r in runs), min(r[k][1] for r in runs)) for k in runs[0]}
sign, verify = raw["ECDSA P-256 signing"], raw["ECDSA P-256 verify"]

scale = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}
ours = {}  # name -> (best real us, best cpu us) over the repetitions
for b in json.loads(bench)["benchmarks"]:
    if b.get("run_type") != "iteration":
        continue
    k = scale[b["time_unit"]]
    real, cpu = b["real_time"] * k, b["cpu_time"] * k
    best = ours.get(b["run_name"], (real, cpu))
    ours[b["run_name"]] = (min(best[0], real), min(best[1], cpu))

# name, raw signatures one operation costs, goal (None = information only)
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

print(f"host {os.uname().nodename} ({os.cpu_count()} CPUs), load average "
      + " ".join(f"{x:.2f}" for x in os.getloadavg()))
print(f"{bssl} speed, ECDSA P-256, best of 2 runs before and 2 after ours (wall / cpu us per op):")
for key in ("ECDSA P-256 signing", "ECDSA P-256 verify"):
    print(f"  {key:20} {raw[key][0]:7.1f} / {raw[key][1]:7.1f} us  ({1e6 / raw[key][1]:6.0f}/s cpu)"
          "   runs: " + ", ".join(f"{r[key][0]:.1f}/{r[key][1]:.1f}" for r in runs))
print()
header = (f"{'benchmark (best of reps)':38} {'real us':>8} {'cpu us':>8} {'basis':>10} "
          f"{'bssl cpu':>8} {'cpu ratio':>9} {'wall ratio':>10}  goal (cpu ratio)")
print(header)
print("-" * len(header))
missed = []
for name, basis, goal in rows:
    if name not in ours:
        continue
    real, cpu = ours[name]
    if basis is None:
        print(f"{name:38} {real:8.2f} {cpu:8.2f} {'-':>10} {'-':>8} {'-':>9} {'-':>10}")
        continue
    kind, count = basis
    base = sign if kind == "sign" else verify
    cpu_ratio = cpu / (count * base[1])
    wall_ratio = real / (count * base[0])
    verdict = ""
    if goal is not None:
        verdict = f"<= {goal}: " + ("met" if cpu_ratio <= goal else "MISSED")
        if cpu_ratio > goal:
            missed.append(name)
    print(f"{name:38} {real:8.2f} {cpu:8.2f} {f'{count}x {kind}':>10} {count * base[1]:8.1f} "
          f"{cpu_ratio:9.2f} {wall_ratio:10.2f}  {verdict}")
print()
print("cpu ratio  = our CPU us / (raw signatures per operation x bssl speed CPU us per signature)")
print("wall ratio = the same with wall-clock times (meaningful only on a quiet machine)")
print("BM_RawEcdsaP256* are the same raw operations measured in-process by Google Benchmark.")
if missed:
    print("goals missed: " + ", ".join(missed))
PY
