#!/usr/bin/env python3
"""HTTP/1.1 64 B request/response through the second hop, three ways, one run.

    wrk -> Palisade outbound (hop 1) -> mTLS -> hop 2 -> app (nginx, 64 B answer)

hop 2 is one of:
  palisade_plain   Palisade inbound listener, no caller identity
  palisade_header  the same with caller_identity http_header (XFCC injected in
                   every request, any incoming one removed)
  nginx_gateway    nginx terminating mTLS (ssl_verify_client on) and passing
                   the client certificate's subject ($ssl_client_s_dn) with
                   proxy_set_header, keep-alive to the app
hop 1 is the same Palisade outbound listener for all three (wrk cannot present
a client certificate), and the app the same nginx. Requests are POSTs with a
64 B body; answers carry 64 B. One worker thread / process per proxy. The
runs are interleaved over --repeat rounds; the table shows medians, the
ratios, and hop 2's CPU per request (from /proc).

Called by run.sh with the optimised binaries; writes results.json.
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "proxy_chain"))
import proxy_chain  # noqa: E402  (wait_file, wait_port, free_port)

BODY = "r" * 64
ANSWER = "a" * 64


def cpu_seconds(pids):
    """CPU time of every thread of `pids`, in ns resolution (schedstat), not
    clock ticks: a few seconds at a few thousand requests/s needs it."""
    total = 0
    for pid in pids:
        for task in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                    total += int(f.read().split()[0])
            except OSError:
                pass  # a thread that just ended
    return total / 1e9


def children(pid):
    """pid and its child processes (nginx's workers)."""
    out = [pid]
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            out += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return out


def stop(procs):
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def identity(work, who):
    return f"""identity:
  spiffe_id: spiffe://bench.local/ns/bench/sa/{who}
  files:
    certificate_chain_file: {work}/{who}.pem
    private_key_file: {work}/{who}.key
    trust_bundles:
      - trust_domain: bench.local
        file: {work}/bundle.pem
admin:
  address: 127.0.0.1:0
runtime:
  workers: 1
  drain_timeout: 1s
logging:
  level: warn
  access_log: false
"""


def start_palisade(args, work, name, text, procs):
    path = f"{work}/{name}.yaml"
    with open(path, "w") as f:
        f.write(text)
    admin_file = f"{work}/{name}.admin"
    if os.path.exists(admin_file):
        os.remove(admin_file)
    p = subprocess.Popen([f"{args.bin}/proxy/palisade-proxy", f"--config={path}",
                          f"--admin_address_file={admin_file}"],
                         stdout=open(f"{work}/{name}.log", "w"), stderr=subprocess.STDOUT)
    procs.append(p)
    admin = proxy_chain.wait_file(admin_file)
    end = time.time() + 20
    while time.time() < end:
        r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                            f"http://{admin}/ready"], capture_output=True, text=True)
        if r.stdout == "200":
            return p
        time.sleep(0.05)
    raise RuntimeError(f"{name} never became ready")


def start_nginx(work, name, body, procs):
    """nginx, one worker, its own prefix; `body` goes inside the top level."""
    os.makedirs(f"{work}/{name}", exist_ok=True)
    conf = f"{work}/{name}/nginx.conf"
    with open(conf, "w") as f:
        f.write(f"""daemon off;
worker_processes 1;
pid {work}/{name}/nginx.pid;
error_log {work}/{name}/error.log warn;
events {{ worker_connections 4096; }}
{body}
""")
    p = subprocess.Popen(["nginx", "-p", f"{work}/{name}", "-e", f"{work}/{name}/error.log",
                          "-c", conf], stdout=open(f"{work}/{name}.log", "w"),
                         stderr=subprocess.STDOUT)
    procs.append(p)
    return p


def http_common(work, name):
    return f"""  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 1h;
  client_body_temp_path {work}/{name}/body;
  proxy_temp_path {work}/{name}/proxy;
  fastcgi_temp_path {work}/{name}/fastcgi;
  uwsgi_temp_path {work}/{name}/uwsgi;
  scgi_temp_path {work}/{name}/scgi;
"""


def start_app(work, procs):
    port = proxy_chain.free_port()
    start_nginx(work, "app", f"""http {{
{http_common(work, "app")}
  server {{
    listen 127.0.0.1:{port} reuseport;
    location / {{ return 200 "{ANSWER}"; }}
  }}
}}""", procs)
    proxy_chain.wait_port(port)
    return port


def start_hop2(args, work, variant, app_port, procs):
    """Starts hop 2 for `variant`; returns (its port, its pids)."""
    port = proxy_chain.free_port()
    if variant == "nginx_gateway":
        p = start_nginx(work, variant, f"""http {{
{http_common(work, variant)}
  upstream app {{ server 127.0.0.1:{app_port}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {work}/backend.pem;
    ssl_certificate_key {work}/backend.key;
    ssl_client_certificate {work}/bundle.pem;
    ssl_verify_client on;
    ssl_verify_depth 3;
    location / {{
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Client-Subject $ssl_client_s_dn;
    }}
  }}
}}""", procs)
        proxy_chain.wait_port(port)
        time.sleep(0.3)  # the worker forks after the port opens
        return port, children(p.pid)
    caller = ""
    if variant == "palisade_header":
        caller = "    caller_identity:\n      mode: http_header\n"
    p = start_palisade(args, work, variant, identity(work, "backend") + f"""inbound:
  - name: app
    address: 127.0.0.1:{port}
    forward_to: 127.0.0.1:{app_port}
    authorization:
      spiffe_ids: [spiffe://bench.local/ns/bench/sa/frontend]
{caller}""", procs)
    return port, [p.pid]


def start_hop1(args, work, name, hop2_port, procs):
    port = proxy_chain.free_port()
    start_palisade(args, work, name, identity(work, "frontend") + f"""outbound:
  - name: hop1
    address: 127.0.0.1:{port}
    upstream: 127.0.0.1:{hop2_port}
    expected_peer:
      spiffe_id: spiffe://bench.local/ns/bench/sa/backend
""", procs)
    return port


WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = "%s"
wrk.headers["Content-Type"] = "text/plain"
done = function(summary, latency, requests)
  io.write(string.format("RESULT %%d %%d %%d %%d %%d %%d\\n", summary.requests,
    summary.duration, summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.status + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99), summary.bytes))
end
""" % BODY


def wrk(args, work, port, seconds):
    script = f"{work}/wrk.lua"
    with open(script, "w") as f:
        f.write(WRK_SCRIPT)
    r = subprocess.run(["wrk", "-t1", f"-c{args.connections}", f"-d{int(seconds)}s", "-s", script,
                        f"http://127.0.0.1:{port}/"], capture_output=True, text=True,
                       timeout=seconds + 60)
    m = re.search(r"RESULT (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)", r.stdout)
    if not m:
        raise RuntimeError(f"wrk said: {r.stdout}{r.stderr}")
    requests, duration_us, errors, p50, p99, _ = map(int, m.groups())
    return {"requests": requests, "per_second": requests / (duration_us / 1e6),
            "errors": errors, "p50_us": p50, "p99_us": p99}


def check_identity(work, hop1_port, variant):
    """One request through the chain; the app's view is not visible, so
    this only proves the path answers 200."""
    r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-d", BODY,
                        f"http://127.0.0.1:{hop1_port}/"], capture_output=True, text=True)
    if r.stdout != "200":
        raise RuntimeError(f"{variant}: the chain answered {r.stdout!r}")


def run_variant(args, work, variant, app_port):
    procs = []
    try:
        hop2_port, hop2_pids = start_hop2(args, work, variant, app_port, procs)
        hop1_port = start_hop1(args, work, f"{variant}-hop1", hop2_port, procs)
        check_identity(work, hop1_port, variant)
        wrk(args, work, hop1_port, 1)  # warm-up
        before = cpu_seconds(hop2_pids)
        r = wrk(args, work, hop1_port, args.seconds)
        r["hop2_cpu_us_per_request"] = (cpu_seconds(hop2_pids) - before) / max(
            1, r["requests"]) * 1e6
        return r
    finally:
        stop(procs)


def median_of(runs):
    first = runs[0]
    if isinstance(first, dict):
        return {k: median_of([r[k] for r in runs]) for k in first}
    values = sorted(runs)
    return values[len(values) // 2]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True, help="bazel-bin of the --config=opt build")
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3,
                        help="rounds, the three variants interleaved; the table shows medians")
    parser.add_argument("--out", default="results.json")
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="palisade-bench-caller-")
    subprocess.run([f"{args.bin}/bench/proxy_chain/chain_certs", f"--dir={work}"], check=True)
    variants = ["palisade_plain", "palisade_header", "nginx_gateway"]
    results = {v: [] for v in variants}
    app = []
    try:
        app_port = start_app(work, app)
        for round_number in range(args.repeat):
            for variant in variants:
                print(f"== round {round_number + 1}/{args.repeat}: {variant}", file=sys.stderr)
                results[variant].append(run_variant(args, work, variant, app_port))
    finally:
        stop(app)
    rounds = {v: list(r) for v, r in results.items()}
    # Side by side within a round, the load the machine carried then is
    # shared: the median of these paired ratios is steadier than a ratio of
    # medians on a busy machine.
    paired = {}
    for key in ("per_second", "hop2_cpu_us_per_request"):
        for name, other in (("header_vs_plain", "palisade_plain"),
                            ("header_vs_nginx", "nginx_gateway")):
            paired[f"{name}_{key}"] = median_of([
                h[key] / o[key] for h, o in zip(rounds["palisade_header"], rounds[other])])
    results = {v: median_of(r) for v, r in results.items()}
    results["paired"] = paired
    results["rounds"] = rounds
    results["machine"] = {"cpus": os.cpu_count(), "loadavg_after": os.getloadavg()}
    with open(args.out, "w") as f:
        json.dump(results, f, indent=2)
    print_table(results)


def print_table(r):
    plain, header, nginx = r["palisade_plain"], r["palisade_header"], r["nginx_gateway"]
    print("| measure | Palisade + header | Palisade plain | nginx mTLS gateway | "
          "header / plain | header / nginx |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for label, key in (("req/s (higher is better)", "per_second"),
                       ("p50 latency us (lower is better)", "p50_us"),
                       ("p99 latency us (lower is better)", "p99_us"),
                       ("hop 2 CPU us per request (lower is better)", "hop2_cpu_us_per_request")):
        a, b, c = header[key], plain[key], nginx[key]
        print(f"| {label} | {a:.1f} | {b:.1f} | {c:.1f} | {a / b:.2f}x | {a / c:.2f}x |")
    p = r["paired"]
    print("\nmedian of per-round ratios (same round, same load): header / plain "
          f"{p['header_vs_plain_per_second']:.2f}x req/s, "
          f"{p['header_vs_plain_hop2_cpu_us_per_request']:.2f}x hop-2 CPU per request; "
          f"header / nginx {p['header_vs_nginx_per_second']:.2f}x req/s, "
          f"{p['header_vs_nginx_hop2_cpu_us_per_request']:.2f}x hop-2 CPU per request")
    for v in ("palisade_header", "palisade_plain", "nginx_gateway"):
        print(f"{v} req/s by round: " + ", ".join(f"{x['per_second']:.0f}" for x in r["rounds"][v]))
    print(f"\nheader injection cost in req/s: {(1 - header['per_second'] / plain['per_second']) * 100:+.1f}%"
          f"; errors: {header['errors']}, {plain['errors']}, {nginx['errors']}")
    print(f"load average after the run: {r['machine']['loadavg_after']}")


if __name__ == "__main__":
    main()
