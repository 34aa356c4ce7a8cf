#!/usr/bin/env python3
"""The two-hop mTLS chain, Palisade beside haproxy, in one run.

    client -> hop 1 (plaintext in, mTLS out) -> hop 2 (mTLS in, plaintext out) -> backend

Both proxies get the same certificates, one worker thread each, no access logs.
For each chain it measures (a) bulk throughput over one connection into a
sink, (b) 64-byte request/response over persistent connections (req/s, p50,
p99), (c) new connections per second, each a full mTLS handshake (session
resumption off on both), also (c') with resumption on, (d) proxy CPU seconds
per GB and per 1,000 handshakes (both hops summed, from /proc), and RSS idle
and with 1,000 idle connections through the chain. Palisade also runs with
metrics off, to show what metrics cost.

Called by run.sh with the optimised binaries; prints a Markdown table with
ratios (Palisade / haproxy) and writes results.json.
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


def start_palisade(args, work, name, backends, resumption=True, metrics=True):
    chain = Chain(name)
    try:
        return _start_palisade(args, work, chain, name, backends, resumption, metrics)
    except BaseException:
        chain.stop()
        raise


def _start_palisade(args, work, chain, name, backends, resumption, metrics):
    certs = work
    yaml_common = f"""admin:
  address: 127.0.0.1:0
runtime:
  workers: 1
  drain_timeout: 1s
logging:
  level: warn
  access_log: false
tls:
  session_resumption: {str(resumption).lower()}
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
            [f"{args.bin}/proxy/palisade-proxy", f"--config={path}",
             f"--admin_address_file={work}/{name}-{hop}.admin"],
            stdout=log, stderr=subprocess.STDOUT))
        admin = wait_file(f"{work}/{name}-{hop}.admin")
        end = time.time() + 20
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
        elif phase == "connrate":
            r = loadgen(args, "connrate", chain.ports["echo"], connections=args.connections,
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
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--hold", type=int, default=1000)
    parser.add_argument("--out", default="results.json")
    parser.add_argument("--only", default="",
                        help="comma-separated chains to run (default: all), e.g. "
                             "palisade_full,palisade_nometrics_full")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of every chain, interleaved; the table shows medians")
    args = parser.parse_args()

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

    runs = [
        ("palisade", lambda: start_palisade(args, work, "palisade", backends),
         ["throughput", "rr", "connrate", "hold"]),
        ("haproxy", lambda: start_haproxy(args, work, "haproxy", backends),
         ["throughput", "rr", "connrate", "hold"]),
        ("palisade_full", lambda: start_palisade(args, work, "palisade_full", backends,
                                                 resumption=False), ["connrate"]),
        ("haproxy_full", lambda: start_haproxy(args, work, "haproxy_full", backends,
                                               resumption=False), ["connrate"]),
        ("palisade_nometrics", lambda: start_palisade(args, work, "palisade_nometrics", backends,
                                                      metrics=False), ["throughput", "connrate"]),
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
                chain = start()  # stops what it started if it cannot finish
                try:
                    results[name].append(measure(args, chain, phases))
                finally:
                    chain.stop()
    finally:
        for p in backend_procs:
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=10)
    results = {name: median_of(runs_) for name, runs_ in results.items()}
    results["machine"] = {"cpus": os.cpu_count(), "loadavg_after": os.getloadavg()}
    with open(args.out, "w") as f:
        json.dump(results, f, indent=2)
    if args.only:
        print(json.dumps(results, indent=2))
    else:
        print_table(results)


def median_of(runs):
    """The median of every number across runs, keeping the structure."""
    first = runs[0]
    if isinstance(first, dict):
        return {k: median_of([r[k] for r in runs]) for k in first}
    if isinstance(first, (int, float)):
        values = sorted(runs)
        return values[len(values) // 2]
    return first


def print_table(r):
    p, h = r["palisade"], r["haproxy"]
    pf, hf = r["palisade_full"], r["haproxy_full"]
    rows = [
        ("(a) throughput, one connection (Gbit/s)", p["throughput"]["gbit_per_s"],
         h["throughput"]["gbit_per_s"], "higher"),
        ("(b) 64 B request/response (req/s)", p["rr"]["per_second"], h["rr"]["per_second"],
         "higher"),
        ("(b) p50 latency (us)", p["rr"]["p50_us"], h["rr"]["p50_us"], "lower"),
        ("(b) p99 latency (us)", p["rr"]["p99_us"], h["rr"]["p99_us"], "lower"),
        ("(c) new connections/s, full mTLS handshake", pf["connrate"]["per_second"],
         hf["connrate"]["per_second"], "higher"),
        ("(c') new connections/s, session resumed", p["connrate"]["per_second"],
         h["connrate"]["per_second"], "higher"),
        ("(d) proxy CPU s per GB", p["throughput"]["cpu_seconds_per_gb"],
         h["throughput"]["cpu_seconds_per_gb"], "lower"),
        ("(d) proxy CPU s per 1,000 full handshakes",
         pf["connrate"]["cpu_seconds_per_1000_handshakes"],
         hf["connrate"]["cpu_seconds_per_1000_handshakes"], "lower"),
        ("(d) RSS idle, both hops (MiB)", p["rss_idle_kib"] / 1024, h["rss_idle_kib"] / 1024,
         "lower"),
        ("(d) RSS with 1,000 idle connections (MiB)", p["hold"]["rss_kib"] / 1024,
         h["hold"]["rss_kib"] / 1024, "lower"),
    ]
    print("| measure | Palisade | haproxy | Palisade / haproxy |")
    print("| --- | ---: | ---: | ---: |")
    for label, a, b, better in rows:
        ratio = a / b if b else float("nan")
        print(f"| {label} ({better} is better) | {a:.2f} | {b:.2f} | {ratio:.2f}x |")
    n, nf = r["palisade_nometrics"], r["palisade_nometrics_full"]
    print()
    print("| Palisade metrics on vs off | on | off | cost |")
    print("| --- | ---: | ---: | ---: |")
    for label, on, off, higher_is_better in (
            ("throughput (Gbit/s)", p["throughput"]["gbit_per_s"],
             n["throughput"]["gbit_per_s"], True),
            ("proxy CPU s per GB", p["throughput"]["cpu_seconds_per_gb"],
             n["throughput"]["cpu_seconds_per_gb"], False),
            ("new connections/s, resumed", p["connrate"]["per_second"],
             n["connrate"]["per_second"], True),
            ("new connections/s, full handshake", pf["connrate"]["per_second"],
             nf["connrate"]["per_second"], True),
            ("proxy CPU s per 1,000 full handshakes",
             pf["connrate"]["cpu_seconds_per_1000_handshakes"],
             nf["connrate"]["cpu_seconds_per_1000_handshakes"], False)):
        cost = (1 - on / off) if higher_is_better else (on / off - 1)
        print(f"| {label} | {on:.2f} | {off:.2f} | {cost * 100:+.1f}% |")


if __name__ == "__main__":
    main()
