#!/usr/bin/env python3
"""Writes proxy/palisade-proxy.order: the functions a palisade-proxy runs from
start to ready, for lld's --symbol-ordering-file (--config=opt links the proxy
with it: proxy/BUILD.bazel).

Why: on this kernel a file-backed page fault maps the whole page-cache folio
(64 KiB and more) around the faulting page, so idle RSS counts every block of
the executable that start-up touches at all. The ~0.8 MB of functions a proxy
runs at start were spread over ~55 such blocks of an 8 MB binary; laid out
together they take a handful (issue 18: file identity 11.0 -> 9.9 MiB,
control-plane identity 13.2 -> 11.8 MiB, bench/proxy_chain/idle_memory.py).
Nothing is dropped or paged out: the same code runs, it just sits together.

Method: the idle_memory.py chain (file identity, hop 1 and hop 2) until ready,
the same chain again with a few connections through it, and a control-plane
proxy that fetches its SVID from a palisade-control, each under valgrind
--tool=callgrind --dump-instr=yes; every symbol of the executable with an
executed instruction is listed, in that order (each group in address order):
file-identity start-up, then what connections add, then what only the
control-plane proxy adds. A stale list
costs nothing but the gain: lld ignores names it does not find.

    bazel build --config=opt //proxy:palisade-proxy //control:palisade-control \\
      //tests/util:echo_server //bench/proxy_chain:chain_certs
    python3 bench/proxy_chain/startup_order.py --bin=$(bazel info --config=opt bazel-bin)
"""
import argparse
import bisect
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import idle_memory  # noqa: E402
import proxy_chain  # noqa: E402


def executed_addresses(path, executable):
    """Instruction addresses of `executable` in one callgrind --dump-instr=yes file."""
    objects, current, address, out = {}, None, 0, set()
    for line in open(path):
        first = line[0]
        if first in "0+-*":
            token = line.split(" ", 1)[0]
            if token.startswith("0x"):
                address = int(token, 16)
            elif first == "+":
                address += int(token[1:])
            elif first == "-":
                address -= int(token[1:])
            if current == executable:
                out.add(address)
            continue
        m = re.match(r"^(c?)ob=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
        if m:
            call, index, name = m.groups()
            if name is not None:
                objects[index] = name
            if not call:
                current = objects[index]
    return out


def symbol_order(executable, groups):
    """Names of the functions holding the executed addresses, group by group."""
    symbols = []
    nm = subprocess.run(["nm", "-n", "-S", "--defined-only", executable], capture_output=True,
                        text=True, check=True).stdout
    for line in nm.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in "tTwW":
            symbols.append((int(parts[0], 16), int(parts[1], 16), parts[3]))
    starts = [s for s, _, _ in symbols]
    seen, names = set(), []
    for files in groups:
        hit = set()
        for path in files:
            for a in executed_addresses(path, executable):
                i = bisect.bisect_right(starts, a) - 1
                if i >= 0 and a < symbols[i][0] + max(symbols[i][1], 1):
                    hit.add(i)
        for i in sorted(hit):
            if symbols[i][2] not in seen:
                seen.add(symbols[i][2])
                names.append(symbols[i][2])
    return names


def round_trips(port, count=3):
    """A few connections through the chain (an mTLS handshake each), one echo each."""
    for _ in range(count):
        with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
            s.sendall(b"x" * 64)
            got = b""
            while len(got) < 64:
                chunk = s.recv(64 - len(got))
                if not chunk:
                    raise RuntimeError("the chain closed the connection before echoing")
                got += chunk


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True, help="bazel-bin of the --config=opt build")
    parser.add_argument("--out", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "../../proxy/palisade-proxy.order"))
    args = parser.parse_args()
    args.bytes, args.seconds, args.hold, args.proxy = 0, 0, 0, None

    work = tempfile.mkdtemp(prefix="palisade-startup-order-")
    # A copy, so that callgrind names one file and the wrapper can exec it.
    executable = f"{work}/palisade-proxy"
    shutil.copy(f"{args.bin}/proxy/palisade-proxy", executable)
    wrapper = f"{work}/callgrind-proxy.sh"
    with open(wrapper, "w") as f:
        f.write(f"#!/bin/sh\nexec valgrind --tool=callgrind --dump-instr=yes "
                f"--callgrind-out-file={work}/callgrind.%p {executable} \"$@\"\n")
    os.chmod(wrapper, 0o755)
    subprocess.run([f"{args.bin}/bench/proxy_chain/chain_certs", f"--dir={work}"], check=True)
    procs, backends, control = [], {}, None
    try:
        for route, mode in (("echo", "echo"), ("sink", "sink")):
            port_file = f"{work}/{route}.port"
            procs.append(subprocess.Popen(
                [f"{args.bin}/tests/util/echo_server", "--listen=127.0.0.1:0",
                 f"--port_file={port_file}", f"--mode={mode}"]))
            backends[route] = int(proxy_chain.wait_file(port_file))
        control = idle_memory.start_control(args, work)

        def profiles_of(run):
            before = set(os.listdir(work))
            run()
            return sorted(f"{work}/{n}" for n in set(os.listdir(work)) - before
                          if n.startswith("callgrind."))

        def chain(connections):
            # wrap={} entries give the hops the longer readiness deadline valgrind needs.
            c = proxy_chain.start_palisade(args, work, "palisade", backends, binary=wrapper,
                                           wrap={"hop1": [], "hop2": []})
            try:
                time.sleep(1)
                if connections:
                    round_trips(c.ports["echo"])
            finally:
                c.stop()

        # Start-up alone, then start-up and a few connections (handshake, pump):
        # the connection code follows the start-up code, so an idle proxy's
        # first connections do not fault in scattered blocks either.
        file_identity = profiles_of(lambda: chain(False))
        connections = profiles_of(lambda: chain(True))

        def control_plane_proxy():
            # Its readiness deadline (30 s) covers the SVID fetch under valgrind.
            proxy = idle_memory.start_control_plane_proxy(args, work, control, 0,
                                                          backends["echo"], binary=wrapper)
            time.sleep(1)
            proxy.stop()

        control_plane = profiles_of(control_plane_proxy)
        if len(file_identity) != 2 or len(connections) != 2 or len(control_plane) != 1:
            raise RuntimeError(f"expected 2 + 2 + 1 profiles, got {file_identity} "
                               f"{connections} {control_plane}")
        names = symbol_order(executable, [file_identity, connections, control_plane])
    finally:
        for p in procs + ([control[0]] if control else []):
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)
    with open(args.out, "w") as f:
        f.write("".join(n + "\n" for n in names))
    print(f"{len(names)} functions -> {os.path.normpath(args.out)}")


if __name__ == "__main__":
    main()
