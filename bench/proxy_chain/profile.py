#!/usr/bin/env python3
"""Where Palisade's data path spends its time, in figures that do not move
with the machine's load: instruction counts (valgrind --tool=callgrind) or
system calls (strace -c -f) of one hop of the proxy_chain.py chain under one
fixed load. perf counters are not available on this VM.

    profile.py --bin=BAZEL_BIN --tool=callgrind --hop=hop1 --load=rr
    profile.py --bin=BAZEL_BIN --tool=strace --load=bulk

--load: rr (64 B request/response, 16 connections), rr1 (1 connection),
bulk (one connection into a sink). callgrind writes callgrind.out.* into
--out_dir and prints the per-request (or per-MB) instruction count; strace
prints each hop's syscall table and the calls per request (or per MB).
"""
import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import proxy_chain as pc  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--tool", choices=["callgrind", "strace"], required=True)
    parser.add_argument("--hop", default="hop1", help="callgrind: hop1 or hop2")
    parser.add_argument("--load", choices=["rr", "rr1", "bulk"], default="rr")
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--bytes", type=int, default=1 << 30)
    parser.add_argument("--out_dir", default=tempfile.gettempdir())
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="palisade-profile-")
    subprocess.run([f"{args.bin}/bench/proxy_chain/chain_certs", f"--dir={work}"], check=True)
    backends, backend_procs = {}, []
    for route in ("echo", "sink"):
        port_file = f"{work}/{route}.port"
        backend_procs.append(subprocess.Popen(
            [f"{args.bin}/tests/util/echo_server", "--listen=127.0.0.1:0",
             f"--port_file={port_file}", f"--mode={route}"]))
        backends[route] = int(pc.wait_file(port_file))
    wrap = {}
    if args.tool == "callgrind":
        out = os.path.join(args.out_dir, f"callgrind.out.{args.hop}.{args.load}")
        wrap[args.hop] = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                          "--dump-instr=no"]
    chain = pc.start_palisade(args, work, "profile", backends, wrap=wrap)
    tracers = []
    try:
        pc.loadgen(args, "rr", chain.ports["echo"], connections=2, seconds=1)  # warm up
        if args.tool == "strace":
            for hop, proc in zip(("hop2", "hop1"), chain.procs):
                tracers.append((hop, subprocess.Popen(
                    ["strace", "-c", "-f", "-p", str(proc.pid),
                     "-o", f"{work}/strace.{hop}"], stderr=subprocess.DEVNULL)))
            time.sleep(1)
        if args.load == "bulk":
            r = pc.loadgen(args, "throughput", chain.ports["sink"], bytes=args.bytes)
            units, unit = args.bytes / 1e6, "MB"
        else:
            r = pc.loadgen(args, "rr", chain.ports["echo"],
                           connections=16 if args.load == "rr" else 1, seconds=args.seconds)
            units, unit = r["completed"], "request"
        print(f"load: {r}")
        for hop, t in tracers:
            t.send_signal(signal.SIGINT)
            t.wait(timeout=30)
            print(f"== strace -c -f, {hop}; calls per {unit} in the last column")
            for line in open(f"{work}/strace.{hop}"):
                parts = line.split()
                if len(parts) >= 5 and parts[3].isdigit():
                    print(f"{line.rstrip()}    {int(parts[3]) / units:.2f}")
                else:
                    print(line.rstrip())
    finally:
        chain.stop()
        for p in backend_procs:
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=10)
    if args.tool == "callgrind":
        total = subprocess.run(["callgrind_annotate", out], capture_output=True, text=True).stdout
        print(f"callgrind output: {out}; units of load: {units:.0f} {unit}(s)")
        print("\n".join(total.splitlines()[:60]))


if __name__ == "__main__":
    main()
