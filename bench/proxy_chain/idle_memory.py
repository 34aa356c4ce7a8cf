#!/usr/bin/env python3
"""Idle memory of one proxy, Palisade beside haproxy, in one run.

Reports, per proxy process (medians over --repeat rounds, min..max beside):
  - RSS idle with file identity (both hops of the proxy_chain chain, each alone),
  - RSS idle with control-plane identity (a palisade-control is started with a
    fresh CA; the proxy joins with a token and gets its SVID over the stream),
  - haproxy 2.6 (Debian) as the same two hops,
  - memory per idle mTLS connection: (RSS of both hops holding --hold idle
    connections, each after one round trip, minus RSS idle) / --hold,
and the RssAnon/RssFile split and thread count of each process, so a change
can be traced to what it saved. Not a test: it measures, it does not judge.

    bench/proxy_chain/idle_memory.sh [--repeat=3] [--hold=1000]
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import proxy_chain  # noqa: E402  (the chain starters and loadgen wrappers)


def status(pid):
    """VmRSS, RssAnon, RssFile (KiB) and Threads of one process."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem", "Threads"):
                out[key] = int(value.split()[0])
    return out


def smaps(pid):
    """Rss (KiB) per mapping of one process, grouped by object and permissions
    ("libc.so.6 r-xp", "[heap] rw-p", "[anon] rw-p" for thread stacks and
    malloc arenas), so a change can be traced to the library or segment it saved."""
    out, name = {}, None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            parts = line.split()
            if parts and "-" in parts[0] and not parts[0].endswith(":"):
                path = parts[5] if len(parts) > 5 else "[anon]"
                name = f"{path.rsplit('/', 1)[-1]} {parts[1]}"
            elif parts and parts[0] == "Rss:":
                out[name] = out.get(name, 0) + int(parts[1])
    return {k: v for k, v in out.items() if v}


def settle():
    # Start-up work (first handshakes of the readiness probe, logging) is over
    # well within a second; RSS is read after it.
    time.sleep(1.0)


def hold(args, chain):
    """Both hops' RSS with --hold idle connections open, minus idle, per connection."""
    idle = sum(status(pid)["VmRSS"] for pid in chain.pids)
    p = subprocess.Popen([f"{args.bin}/bench/proxy_chain/loadgen", "--mode=hold",
                          f"--target=127.0.0.1:{chain.ports['echo']}",
                          f"--connections={args.hold}"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        r = json.loads(p.stdout.readline())
        settle()
        held = sum(status(pid)["VmRSS"] for pid in chain.pids)
    finally:
        p.stdin.close()
        p.wait(timeout=60)
    if r.get("held") != args.hold:
        raise RuntimeError(f"hold: only {r} of {args.hold} connections")
    return {"idle_kib": idle, "held_kib": held,
            "per_connection_kib": (held - idle) / args.hold}


def measure_chain(args, chain):
    settle()
    # The starters start hop 2 (inbound, TLS server) first, then hop 1.
    out = {"hop2": status(chain.pids[0]), "hop1": status(chain.pids[1])}
    if args.smaps:
        out["hop2"]["smaps"], out["hop1"]["smaps"] = smaps(chain.pids[0]), smaps(chain.pids[1])
    if args.hold:
        out["hold"] = hold(args, chain)
    return out


def start_control(args, work):
    """palisade-control with a fresh CA; returns (proc, identity port, admin port)."""
    port, admin = proxy_chain.free_port(), proxy_chain.free_port()
    state = f"{work}/control-state"
    proc = subprocess.Popen(
        [f"{args.bin}/control/palisade-control", "serve", "--trust_domain=bench.local",
         f"--state_dir={state}", f"--listen=127.0.0.1:{port}", f"--admin=127.0.0.1:{admin}",
         "--svid_ttl=1h"],
        stdout=open(f"{work}/control.log", "w"), stderr=subprocess.STDOUT)
    end = time.time() + 30
    while time.time() < end:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{admin}/healthz", timeout=2) as r:
                if r.status == 200:
                    return proc, port, admin, state
        except OSError:
            pass
        if proc.poll() is not None:
            raise RuntimeError("palisade-control exited:\n" + open(f"{work}/control.log").read())
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("palisade-control never became healthy")


def start_control_plane_proxy(args, work, control, round_number, echo_port, binary=None,
                              name=None):
    """One palisade-proxy (an inbound listener to the echo server) with its SVID from control."""
    _, port, admin, state = control
    name = name or f"cp{round_number}"
    spiffe_id = f"spiffe://bench.local/ns/bench/sa/{name}"
    token = subprocess.run(
        [f"{args.bin}/control/palisade-control", "token", "create", f"--spiffe_id={spiffe_id}",
         "--ttl=10m", f"--admin=127.0.0.1:{admin}", f"--state_dir={state}"],
        capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
    token_file = f"{work}/{name}.token"
    with open(token_file, "w") as f:
        f.write(token + "\n")
    os.chmod(token_file, 0o600)
    config = f"{work}/{name}.yaml"
    with open(config, "w") as f:
        f.write(f"""identity:
  spiffe_id: "{spiffe_id}"
  control_plane:
    address: 127.0.0.1:{port}
    server_spiffe_id: "spiffe://bench.local/palisade/control"
    bootstrap_bundle_file: {state}/bundle.pem
    join_token_file: {token_file}
    instance_name: {name}
admin:
  address: 127.0.0.1:0
runtime:
  workers: 1
  drain_timeout: 1s
logging:
  level: warn
  access_log: false
inbound:
  - name: echo
    address: 127.0.0.1:{proxy_chain.free_port()}
    forward_to: 127.0.0.1:{echo_port}
    authorization:
      spiffe_ids: [spiffe://bench.local/ns/bench/sa/frontend]
""")
    admin_file = f"{work}/{name}.admin"
    chain = proxy_chain.Chain(name)
    chain.procs.append(subprocess.Popen(
        [binary or f"{args.bin}/proxy/palisade-proxy", f"--config={config}",
         f"--admin_address_file={admin_file}"],
        stdout=open(f"{work}/{name}.log", "w"), stderr=subprocess.STDOUT))
    try:
        address = proxy_chain.wait_file(admin_file)
        end = time.time() + 30
        while time.time() < end:
            try:
                with urllib.request.urlopen(f"http://{address}/ready", timeout=2) as r:
                    if r.status == 200:
                        return chain
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{name} never became ready:\n" + open(f"{work}/{name}.log").read())
    except BaseException:
        chain.stop()
        raise


def spread(values):
    values = sorted(values)
    return values[len(values) // 2], values[0], values[-1]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True, help="bazel-bin of the --config=opt build")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--hold", type=int, default=1000, help="idle connections; 0 = skip")
    parser.add_argument("--out", default="idle_memory.json")
    parser.add_argument("--proxy", help="the palisade-proxy binary to measure (default: "
                        "--bin's)")
    parser.add_argument("--baseline", help="a second palisade-proxy binary (say, one built "
                        "from main and copied aside), measured in the same rounds")
    parser.add_argument("--smaps", type=int, default=0,
                        help="print the N largest mappings (Rss) of each process, first round")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    args.bytes, args.seconds = 0, 0  # unused by the starters here

    work = tempfile.mkdtemp(prefix="palisade-idle-memory-")
    subprocess.run([f"{args.bin}/bench/proxy_chain/chain_certs", f"--dir={work}"], check=True)
    backends, backend_procs = {}, []
    control = None
    rounds = {"palisade": [], "haproxy": [], "palisade_control_plane": [],
              "baseline": [], "baseline_control_plane": []}
    try:
        for route, mode in (("echo", "echo"), ("sink", "sink")):
            port_file = f"{work}/{route}.port"
            backend_procs.append(subprocess.Popen(
                [f"{args.bin}/tests/util/echo_server", "--listen=127.0.0.1:0",
                 f"--port_file={port_file}", f"--mode={mode}"]))
            backends[route] = int(proxy_chain.wait_file(port_file))
        control = start_control(args, work)
        for n in range(args.repeat):
            for name, start in (
                    ("palisade", lambda: proxy_chain.start_palisade(
                        args, work, "palisade", backends, binary=args.proxy)),
                    ("haproxy", lambda: proxy_chain.start_haproxy(args, work, "haproxy",
                                                                   backends)),
                    ("palisade_control_plane", lambda: start_control_plane_proxy(
                        args, work, control, n, backends["echo"], binary=args.proxy)),
                    ("baseline", lambda: proxy_chain.start_palisade(
                        args, work, "baseline", backends, binary=args.baseline)),
                    ("baseline_control_plane", lambda: start_control_plane_proxy(
                        args, work, control, n, backends["echo"], binary=args.baseline,
                        name=f"base-cp{n}"))):
                if name.startswith("baseline") and not args.baseline:
                    continue
                print(f"== round {n + 1}/{args.repeat}: {name}", file=sys.stderr)
                chain = start()
                try:
                    if name.endswith("control_plane"):
                        settle()
                        rounds[name].append({"hop1": status(chain.pids[0])})
                        if args.smaps:
                            rounds[name][-1]["hop1"]["smaps"] = smaps(chain.pids[0])
                    else:
                        rounds[name].append(measure_chain(args, chain))
                finally:
                    chain.stop()
    finally:
        for p in backend_procs + ([control[0]] if control else []):
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=10)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    with open(args.out, "w") as f:
        json.dump(rounds, f, indent=2)

    def row(label, values, unit_div=1024, fmt="{:.1f}"):
        med, lo, hi = spread(values)
        cell = lambda v: fmt.format(v / unit_div)  # noqa: E731
        return f"| {label} | {cell(med)} | {cell(lo)}..{cell(hi)} |"

    print(f"Idle memory, {args.repeat} rounds (median, min..max); MiB unless noted; "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    print()
    print("| process | RSS idle | min..max | RssAnon | RssFile | threads |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, label, hops in (
            ("palisade", "Palisade, file identity, hop 1 (outbound)", ["hop1"]),
            ("palisade", "Palisade, file identity, hop 2 (inbound)", ["hop2"]),
            ("palisade_control_plane", "Palisade, control-plane identity (inbound)", ["hop1"]),
            ("baseline", "baseline, file identity, hop 1 (outbound)", ["hop1"]),
            ("baseline", "baseline, file identity, hop 2 (inbound)", ["hop2"]),
            ("baseline_control_plane", "baseline, control-plane identity (inbound)", ["hop1"]),
            ("haproxy", "haproxy, hop 1", ["hop1"]),
            ("haproxy", "haproxy, hop 2", ["hop2"])):
        for hop in hops:
            if not rounds[name]:
                continue
            rss = [r[hop]["VmRSS"] for r in rounds[name]]
            med, lo, hi = spread(rss)
            anon = spread([r[hop]["RssAnon"] for r in rounds[name]])[0]
            file_ = spread([r[hop]["RssFile"] for r in rounds[name]])[0]
            threads = spread([r[hop]["Threads"] for r in rounds[name]])[0]
            print(f"| {label} | {med / 1024:.1f} | {lo / 1024:.1f}..{hi / 1024:.1f} | "
                  f"{anon / 1024:.1f} | {file_ / 1024:.1f} | {threads} |")
    if args.smaps:
        for name, label, hop in (
                ("palisade", "Palisade, file identity, hop 2 (inbound)", "hop2"),
                ("palisade_control_plane", "Palisade, control-plane identity", "hop1"),
                ("haproxy", "haproxy, hop 2", "hop2")):
            print()
            print(f"| {label}: mapping | Rss KiB |")
            print("| --- | ---: |")
            top = sorted(rounds[name][0][hop]["smaps"].items(), key=lambda kv: -kv[1])
            for mapping, kib in top[:args.smaps]:
                print(f"| {mapping} | {kib} |")
    if args.hold:
        print()
        print(f"| {args.hold} idle connections through both hops | KiB per connection "
              f"| min..max |")
        print("| --- | ---: | ---: |")
        for name in ("palisade", "baseline", "haproxy"):
            if not rounds[name]:
                continue
            med, lo, hi = spread([r["hold"]["per_connection_kib"] for r in rounds[name]])
            print(f"| {name} | {med:.1f} | {lo:.1f}..{hi:.1f} |")


if __name__ == "__main__":
    main()
