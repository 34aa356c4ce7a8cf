#!/usr/bin/env python3
"""The two-hop mTLS chain, Palisade beside haproxy, in one run.

    client -> hop 1 (plaintext in, mTLS out) -> hop 2 (mTLS in, plaintext out) -> backend

Both proxies get the same certificates, one worker thread each, no access logs.
For each chain it measures (a) bulk throughput over one connection into a
sink, (b) 64-byte request/response over 16 persistent connections (req/s)
and over 1 (p50, p99), (c) new connections per second, each a full mTLS
handshake (session resumption off on both; Palisade with its verified-chain
cache on and off), also (c') with resumption on, (d) proxy CPU seconds per GB
and per 1,000 handshakes (both hops summed, from /proc), and (e) Palisade
with `runtime.workers: 2` against 1 (full-handshake connections/s and
16-connection requests/s). With --hold=N also RSS with N idle connections;
with --metrics_cost also Palisade with metrics off.

The chains run in interleaved rounds (palisade, haproxy, palisade_full, ...,
then again), default 5, so that load from other work on a shared machine
falls on both; every measure is reported as median and min..max over the
rounds, with the ratio of the medians, and the load average at the start of
each round beside it. --quick runs one short round, to check the script.

Called by run.sh with the optimised binaries; prints a Markdown table and
writes results.json (every round's figures).
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids):
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS


def rss_kib(pids):
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def wait_file(path, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        if os.path.exists(path) and open(path).read().strip():
            return open(path).read().strip()
        time.sleep(0.05)
    raise RuntimeError(f"{path} did not appear")


def wait_port(port, timeout=20):
    import socket
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} never opened")


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Chain:
    """Two hops plus their pids; routes 'echo' and 'sink' each have a port."""

    def __init__(self, name):
        self.name = name
        self.procs = []
        self.ports = {}

    @property
    def pids(self):
        return [p.pid for p in self.procs]

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def start_palisade(args, work, name, backends, resumption=True, metrics=True, chain_cache=True,
                   workers=1, wrap=None, binary=None):
    """wrap: {"hop1" or "hop2": [command prefix]}, e.g. valgrind for profile.py."""
    chain = Chain(name)
    try:
        return _start_palisade(args, work, chain, name, backends, resumption, metrics,
                               chain_cache, workers, wrap or {},
                               binary or f"{args.bin}/proxy/palisade-proxy")
    except BaseException:
        chain.stop()
        raise


def _start_palisade(args, work, chain, name, backends, resumption, metrics, chain_cache,
                    workers, wrap, binary):
    certs = work
    yaml_common = f"""admin:
  address: 127.0.0.1:0
runtime:
  workers: {workers}
  drain_timeout: 1s
logging:
  level: warn
  access_log: false
tls:
  session_resumption: {str(resumption).lower()}
  verified_chain_cache: {str(chain_cache).lower()}
metrics:
  enabled: {str(metrics).lower()}
"""
    def identity(who):
        return f"""identity:
  spiffe_id: spiffe://bench.local/ns/bench/sa/{who}
  files:
    certificate_chain_file: {certs}/{who}.pem
    private_key_file: {certs}/{who}.key
    trust_bundles:
      - trust_domain: bench.local
        file: {certs}/bundle.pem
"""
    hop2_ports = {route: free_port() for route in backends}
    inbound = "inbound:\n" + "".join(
        f"""  - name: {route}
    address: 127.0.0.1:{hop2_ports[route]}
    forward_to: 127.0.0.1:{port}
    authorization:
      spiffe_ids: [spiffe://bench.local/ns/bench/sa/frontend]
""" for route, port in backends.items())
    hop1_ports = {route: free_port() for route in backends}
    outbound = "outbound:\n" + "".join(
        f"""  - name: {route}
    address: 127.0.0.1:{hop1_ports[route]}
    upstream: 127.0.0.1:{hop2_ports[route]}
    expected_peer:
      spiffe_id: spiffe://bench.local/ns/bench/sa/backend
""" for route in backends)
    for hop, text in (("hop2", identity("backend") + yaml_common + inbound),
                      ("hop1", identity("frontend") + yaml_common + outbound)):
        path = f"{work}/{name}-{hop}.yaml"
        with open(path, "w") as f:
            f.write(text)
        log = open(f"{work}/{name}-{hop}.log", "w")
        admin_file = f"{work}/{name}-{hop}.admin"
        if os.path.exists(admin_file):
            os.remove(admin_file)  # a previous round's proxy wrote it
        chain.procs.append(subprocess.Popen(
            wrap.get(hop, []) + [binary, f"--config={path}",
             f"--admin_address_file={work}/{name}-{hop}.admin"],
            stdout=log, stderr=subprocess.STDOUT))
        admin = wait_file(f"{work}/{name}-{hop}.admin", 120 if hop in wrap else 20)
        end = time.time() + (120 if hop in wrap else 20)
        while time.time() < end:
            r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                                f"http://{admin}/ready"], capture_output=True, text=True)
            if r.stdout == "200":
                break
            time.sleep(0.05)
        else:
            raise RuntimeError(f"{name} {hop} never became ready")
    chain.ports = hop1_ports
    return chain


def start_haproxy(args, work, name, backends, resumption=True):
    chain = Chain(name)
    try:
        return _start_haproxy(args, work, chain, name, backends, resumption)
    except BaseException:
        chain.stop()
        raise


def _start_haproxy(args, work, chain, name, backends, resumption):
    reuse = "" if resumption else " no-ssl-reuse"
    tickets = "" if resumption else " no-tls-tickets"
    cache = "" if resumption else "  tune.ssl.cachesize 0\n"
    common = f"""global
  nbthread 1
  maxconn 9000
{cache}defaults
  mode tcp
  timeout connect 5s
  timeout client 1h
  timeout server 1h
"""
    hop2_ports = {route: free_port() for route in backends}
    hop1_ports = {route: free_port() for route in backends}
    hop2 = common + "".join(
        f"""frontend in_{route}
  bind 127.0.0.1:{hop2_ports[route]} ssl crt {work}/backend-haproxy.pem ca-file {work}/bundle.pem verify required{tickets}
  default_backend app_{route}
backend app_{route}
  server app 127.0.0.1:{port}
""" for route, port in backends.items())
    hop1 = common + "".join(
        f"""frontend out_{route}
  bind 127.0.0.1:{hop1_ports[route]}
  default_backend up_{route}
backend up_{route}
  server up 127.0.0.1:{hop2_ports[route]} ssl crt {work}/frontend-haproxy.pem ca-file {work}/bundle.pem verify required{reuse}
""" for route in backends)
    for hop, text, ports in (("hop2", hop2, hop2_ports), ("hop1", hop1, hop1_ports)):
        path = f"{work}/{name}-{hop}.cfg"
        with open(path, "w") as f:
            f.write(text)
        log = open(f"{work}/{name}-{hop}.log", "w")
        chain.procs.append(subprocess.Popen(["haproxy", "-db", "-f", path],
                                            stdout=log, stderr=subprocess.STDOUT))
        for port in ports.values():
            wait_port(port)
    chain.ports = hop1_ports
    return chain


def loadgen(args, mode, port, **flags):
    cmd = [f"{args.bin}/bench/proxy_chain/loadgen", f"--mode={mode}", f"--target=127.0.0.1:{port}"]
    cmd += [f"--{k}={v}" for k, v in flags.items()]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    result = json.loads(r.stdout.strip().splitlines()[-1])
    result["exit"] = r.returncode
    return result


def measure(args, chain, phases):
    """Runs the phases against a started chain; returns their results."""
    out = {"rss_idle_kib": rss_kib(chain.pids)}
    # A warm-up so both start from a connection cache of the same shape.
    loadgen(args, "rr", chain.ports["echo"], connections=4, seconds=1)
    for phase in phases:
        before = cpu_seconds(chain.pids)
        if phase == "throughput":
            r = loadgen(args, "throughput", chain.ports["sink"], bytes=args.bytes)
            r["cpu_seconds"] = cpu_seconds(chain.pids) - before
            r["cpu_seconds_per_gb"] = r["cpu_seconds"] / (args.bytes / 1e9)
        elif phase == "rr":
            r = loadgen(args, "rr", chain.ports["echo"], connections=args.connections,
                        seconds=args.seconds)
            r["cpu_seconds"] = cpu_seconds(chain.pids) - before
        elif phase == "rr1":
            r = loadgen(args, "rr", chain.ports["echo"], connections=1, seconds=args.seconds)
            r["cpu_seconds"] = cpu_seconds(chain.pids) - before
        elif phase == "connrate":
            r = loadgen(args, "connrate", chain.ports["echo"], connections=args.in_flight,
                        seconds=args.seconds)
            r["cpu_seconds"] = cpu_seconds(chain.pids) - before
            # Each new connection is one handshake per mTLS hop.
            r["cpu_seconds_per_1000_handshakes"] = r["cpu_seconds"] / max(1, r["completed"]) * 1000
        elif phase == "hold":
            p = subprocess.Popen([f"{args.bin}/bench/proxy_chain/loadgen", "--mode=hold",
                                  f"--target=127.0.0.1:{chain.ports['echo']}",
                                  f"--connections={args.hold}"],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            line = p.stdout.readline()
            time.sleep(1)
            r = json.loads(line)
            r["rss_kib"] = rss_kib(chain.pids)
            p.stdin.close()
            p.wait(timeout=60)
        out[phase] = r
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True, help="bazel-bin of the --config=opt build")
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--bytes", type=int, default=4 << 30)
    parser.add_argument("--connections", type=int, default=16,
                        help="persistent connections of the request/response phase")
    parser.add_argument("--in_flight", type=int, default=8,
                        help="new connections in flight in the connection-rate phases")
    parser.add_argument("--hold", type=int, default=0,
                        help="also measure RSS with this many idle connections (0: skip)")
    parser.add_argument("--metrics_cost", action="store_true",
                        help="also run Palisade with metrics off")
    parser.add_argument("--baseline", default="",
                        help="another palisade-proxy binary (say, a copy built from main) "
                             "to run in the same rounds, for a before/after table")
    parser.add_argument("--quick", action="store_true",
                        help="one short round, to check the script")
    parser.add_argument("--out", default="results.json")
    parser.add_argument("--only", default="",
                        help="comma-separated chains to run (default: all), e.g. "
                             "palisade_full,palisade_nometrics_full")
    parser.add_argument("--repeat", type=int, default=5,
                        help="rounds of every chain, interleaved; the table shows medians")
    args = parser.parse_args()
    if args.quick:
        args.repeat, args.seconds, args.bytes = 1, 1, min(args.bytes, 256 << 20)

    work = tempfile.mkdtemp(prefix="palisade-bench-")
    subprocess.run([f"{args.bin}/bench/proxy_chain/chain_certs", f"--dir={work}"], check=True)
    backends = {}
    backend_procs = []
    for route, mode in (("echo", "echo"), ("sink", "sink")):
        port_file = f"{work}/{route}.port"
        backend_procs.append(subprocess.Popen(
            [f"{args.bin}/tests/util/echo_server", "--listen=127.0.0.1:0",
             f"--port_file={port_file}", f"--mode={mode}"]))
        backends[route] = int(wait_file(port_file))

    hold = ["hold"] if args.hold > 0 else []
    runs = [
        ("palisade", lambda: start_palisade(args, work, "palisade", backends),
         ["throughput", "rr", "rr1", "connrate"] + hold),
        ("haproxy", lambda: start_haproxy(args, work, "haproxy", backends),
         ["throughput", "rr", "rr1", "connrate"] + hold),
        ("palisade_full", lambda: start_palisade(args, work, "palisade_full", backends,
                                                 resumption=False), ["connrate"]),
        ("haproxy_full", lambda: start_haproxy(args, work, "haproxy_full", backends,
                                               resumption=False), ["connrate"]),
        ("palisade_full_nocache", lambda: start_palisade(
            args, work, "palisade_full_nocache", backends, resumption=False, chain_cache=False),
         ["connrate"]),
        ("palisade_2workers", lambda: start_palisade(
            args, work, "palisade_2workers", backends, resumption=False, workers=2),
         ["rr", "connrate"]),
    ]
    if args.baseline:
        runs.insert(2, ("palisade_baseline", lambda: start_palisade(
            args, work, "palisade_baseline", backends, binary=args.baseline),
            ["throughput", "rr", "rr1", "connrate"]))
    if args.metrics_cost:
        runs += [
            ("palisade_nometrics", lambda: start_palisade(
                args, work, "palisade_nometrics", backends, metrics=False),
             ["throughput", "connrate"]),
            ("palisade_nometrics_full", lambda: start_palisade(
                args, work, "palisade_nometrics_full", backends, resumption=False, metrics=False),
             ["connrate"]),
        ]
    if args.only:
        wanted = set(args.only.split(","))
        runs = [r for r in runs if r[0] in wanted]
    results = {name: [] for name, _, _ in runs}
    try:
        for round_number in range(args.repeat):
            for name, start, phases in runs:
                print(f"== round {round_number + 1}/{args.repeat}: {name}: {', '.join(phases)}",
                      file=sys.stderr)
                load = os.getloadavg()[0]
                chain = start()  # stops what it started if it cannot finish
                try:
                    results[name].append(measure(args, chain, phases))
                    results[name][-1]["loadavg_1m"] = load
                finally:
                    chain.stop()
    finally:
        for p in backend_procs:
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=10)
    out = {"rounds": results,
           "machine": {"cpus": os.cpu_count(), "loadavg_after": os.getloadavg()},
           "args": vars(args)}
    with open(args.out, "w") as f:
        json.dump(out, f, indent=2)
    if args.only:
        print(json.dumps({n: median_of(r) for n, r in results.items()}, indent=2))
    else:
        print_table(results, args)


def median_of(runs, pick=None):
    """The median (or pick(values)) of every number across runs, keeping the structure."""
    first = runs[0]
    if isinstance(first, dict):
        return {k: median_of([r[k] for r in runs], pick) for k in first}
    if isinstance(first, (int, float)):
        values = sorted(runs)
        return pick(values) if pick else values[len(values) // 2]
    return first


def print_table(rounds, args):
    med = {n: median_of(r) for n, r in rounds.items()}
    lo = {n: median_of(r, lambda v: v[0]) for n, r in rounds.items()}
    hi = {n: median_of(r, lambda v: v[-1]) for n, r in rounds.items()}

    def get(table, chain, path):
        value = table[chain]
        for key in path:
            value = value[key]
        return value

    def cell(chain, path, fmt):
        return (f"{fmt(get(med, chain, path))} "
                f"({fmt(get(lo, chain, path))}..{fmt(get(hi, chain, path))})")

    n = len(next(iter(rounds.values())))
    loads = sorted(r["loadavg_1m"] for runs in rounds.values() for r in runs)
    print(f"{n} interleaved round(s), {args.seconds:g} s per phase, "
          f"{args.bytes / 2**30:g} GiB bulk; 1-minute load average at the start of each "
          f"chain {loads[0]:.2f}..{loads[-1]:.2f} (median {loads[len(loads) // 2]:.2f}) "
          f"on {os.cpu_count()} CPUs")
    print()
    num = lambda v: f"{v:,.0f}"
    two = lambda v: f"{v:.2f}"
    rows = [
        ("bulk, one connection (Gbit/s)", "palisade", "haproxy", ("throughput", "gbit_per_s"),
         two),
        ("proxy CPU s per GB, both hops (lower is better)", "palisade", "haproxy",
         ("throughput", "cpu_seconds_per_gb"), two),
        (f"64 B req/resp, {args.connections} connections (req/s)", "palisade", "haproxy",
         ("rr", "per_second"), num),
        ("64 B req/resp, 1 connection, p50 (us, lower is better)", "palisade", "haproxy",
         ("rr1", "p50_us"), num),
        ("64 B req/resp, 1 connection, p99 (us, lower is better)", "palisade", "haproxy",
         ("rr1", "p99_us"), num),
        (f"new connections/s, full handshake, {args.in_flight} in flight, chain cache on",
         "palisade_full", "haproxy_full", ("connrate", "per_second"), num),
        (f"new connections/s, full handshake, {args.in_flight} in flight, chain cache off",
         "palisade_full_nocache", "haproxy_full", ("connrate", "per_second"), num),
        ("proxy CPU s per 1,000 full handshakes, cache off (lower is better)",
         "palisade_full_nocache", "haproxy_full", ("connrate", "cpu_seconds_per_1000_handshakes"),
         two),
        ("new connections/s, resumed", "palisade", "haproxy", ("connrate", "per_second"), num),
    ]
    if "hold" in med["palisade"]:
        rows.append((f"RSS with {args.hold} idle connections (MiB, lower is better)", "palisade",
                     "haproxy", ("hold", "rss_kib"), lambda v: f"{v / 1024:.1f}"))
    print("| measure | Palisade median (min..max) | haproxy median (min..max) | ratio of medians |")
    print("| --- | ---: | ---: | ---: |")
    for label, a, b, path, fmt in rows:
        x, y = get(med, a, path), get(med, b, path)
        ratio = x / y if y else float("nan")
        print(f"| {label} | {cell(a, path, fmt)} | {cell(b, path, fmt)} | {ratio:.2f}x |")
    print()
    print("| Palisade, runtime.workers | 2 workers median (min..max) | 1 worker median (min..max) "
          "| 2 / 1 |")
    print("| --- | ---: | ---: | ---: |")
    for label, one, path in (
            (f"new connections/s, full handshake, {args.in_flight} in flight", "palisade_full",
             ("connrate", "per_second")),
            (f"64 B req/resp, {args.connections} connections (req/s)", "palisade",
             ("rr", "per_second"))):
        x, y = get(med, "palisade_2workers", path), get(med, one, path)
        print(f"| {label} | {cell('palisade_2workers', path, num)} | {cell(one, path, num)} "
              f"| {x / y:.2f}x |")
    if "palisade_baseline" in med:
        print()
        print("| Palisade, this build against --baseline | this build | baseline | ratio |")
        print("| --- | ---: | ---: | ---: |")
        for label, path, fmt in (
                ("bulk (Gbit/s)", ("throughput", "gbit_per_s"), two),
                ("proxy CPU s per GB", ("throughput", "cpu_seconds_per_gb"), two),
                (f"64 B req/resp, {args.connections} connections (req/s)", ("rr", "per_second"),
                 num),
                ("64 B req/resp, 1 connection, p99 (us)", ("rr1", "p99_us"), num),
                ("new connections/s, resumed", ("connrate", "per_second"), num)):
            x, y = get(med, "palisade", path), get(med, "palisade_baseline", path)
            print(f"| {label} | {cell('palisade', path, fmt)} | "
                  f"{cell('palisade_baseline', path, fmt)} | {x / y:.2f}x |")
    if "palisade_nometrics" in med:
        print()
        print("| Palisade metrics on vs off | on | off |")
        print("| --- | ---: | ---: |")
        for label, on, off, path in (
                ("bulk (Gbit/s)", "palisade", "palisade_nometrics", ("throughput", "gbit_per_s")),
                ("proxy CPU s per GB", "palisade", "palisade_nometrics",
                 ("throughput", "cpu_seconds_per_gb")),
                ("new connections/s, full handshake", "palisade_full", "palisade_nometrics_full",
                 ("connrate", "per_second"))):
            print(f"| {label} | {cell(on, path, two)} | {cell(off, path, two)} |")


if __name__ == "__main__":
    main()
