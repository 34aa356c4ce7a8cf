#!/usr/bin/env python3
"""A local Palisade mesh on loopback: the README's main job (tools/mesh.sh).

Starts palisade-control with a fresh development CA in a temporary state
directory, three demo workloads (a frontend that calls a backend every 300 ms,
and an intruder the backend does not allow), a palisade-proxy beside each with
short-lived SVIDs, and shows a live status until Ctrl-C (or --duration). It
stops everything it started, by PID, and removes its temporary files.

    mesh.py --bin-dir=DIR [--base-port=N] [--svid-ttl=60s] [--duration=SECONDS]
            [--summary=FILE] [--keep]
"""
import argparse
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

TRUST_DOMAIN = "demo.local"
# What AddressSanitizer, LeakSanitizer, UBSan and TSan print when the binaries
# are built with --config=asan (as mesh_demo_test runs them).
SANITIZER_REPORT = re.compile(
    r"(ERROR|SUMMARY): [A-Za-z]*Sanitizer|WARNING: ThreadSanitizer|runtime error:")
WORKLOADS = ("frontend", "backend", "intruder")
# Port offsets from the base port.
PORTS = {"control": 0, "control_admin": 1, "backend_app": 2,
         "frontend_admin": 10, "backend_admin": 11, "intruder_admin": 12,
         "backend_in": 20, "frontend_out": 21, "intruder_out": 22}
BLOCK = 40


def spiffe(workload):
    return f"spiffe://{TRUST_DOMAIN}/ns/demo/sa/{workload}"


def port_free(port):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def choose_ports(base, explicit):
    """A block of ports; the default depends on the user so two people on one
    machine do not collide, and moves on if the block is taken."""
    for attempt in range(50):
        start = base + attempt * BLOCK
        taken = [start + off for off in PORTS.values() if not port_free(start + off)]
        if not taken:
            if attempt:
                print(f"ports {base}-{base + BLOCK - 1} are in use; using {start}-{start + BLOCK - 1}")
            return {name: start + off for name, off in PORTS.items()}
        if explicit:
            sys.exit(f"mesh: port {taken[0]} (from --base-port={base}) is taken; "
                     f"choose another --base-port")
    sys.exit("mesh: no free block of ports found; choose --base-port")


def die_with_parent():
    # Children end if this runner is killed outright.
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Mesh:
    def __init__(self, args):
        self.args = args
        self.work = tempfile.mkdtemp(prefix="palisade-mesh-")
        self.procs = []  # (name, Popen), in start order
        self.exits = {}  # name -> exit status once stopped (negative: killed by that signal)
        self.reports = {}  # name -> the start of a sanitizer report it wrote
        self.ports = choose_ports(args.base_port, args.base_port_given)
        self.history = {w: {"serials": []} for w in WORKLOADS}

    def path(self, name):
        return os.path.join(self.work, name)

    def start(self, name, argv):
        log = open(self.path(f"{name}.log"), "w")
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, preexec_fn=die_with_parent)
        self.procs.append((name, proc))
        return proc

    def wait_http(self, url, timeout=30, want=200):
        end = time.time() + timeout
        while time.time() < end:
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == want:
                        return True
            except OSError:
                pass
            for name, proc in self.procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited:\n" + open(self.path(f"{name}.log")).read())
            time.sleep(0.1)
        raise RuntimeError(f"{url} did not answer {want} within {timeout}s")

    def control(self, *args):
        # --state_dir: where the CLI reads the admin credential serve wrote.
        cmd = [os.path.join(self.args.bin_dir, "control/palisade-control"), *args,
               f"--admin=127.0.0.1:{self.ports['control_admin']}",
               f"--state_dir={self.path('state')}"]
        result = subprocess.run(cmd, capture_output=True, text=True, check=True)
        self.note_report(f"palisade-control {args[0]}", result.stderr)
        return result.stdout.strip()

    def note_report(self, name, output):
        match = SANITIZER_REPORT.search(output)
        if match:
            start = output.rfind("\n", 0, match.start()) + 1
            self.reports[name] = "\n".join(output[start:].splitlines()[:30])

    def proxy_yaml(self, workload):
        p = self.ports
        listeners = ""
        if workload == "backend":
            listeners = f"""inbound:
  - name: backend-in
    address: 127.0.0.1:{p['backend_in']}
    forward_to: 127.0.0.1:{p['backend_app']}
    authorization:
      spiffe_ids: ["{spiffe('frontend')}"]
"""
        else:
            listeners = f"""outbound:
  - name: to-backend
    address: 127.0.0.1:{p[workload + '_out']}
    upstream: 127.0.0.1:{p['backend_in']}
    expected_peer:
      spiffe_id: "{spiffe('backend')}"
"""
        return f"""identity:
  spiffe_id: "{spiffe(workload)}"
  control_plane:
    address: 127.0.0.1:{p['control']}
    server_spiffe_id: "spiffe://{TRUST_DOMAIN}/palisade/control"
    bootstrap_bundle_file: {self.path('state')}/bundle.pem
    join_token_file: {self.path(workload + '.token')}
    instance_name: {workload}
admin:
  address: 127.0.0.1:{p[workload + '_admin']}
runtime:
  workers: 1
  drain_timeout: 2s
logging:
  level: info
{listeners}"""

    def up(self):
        a, p = self.args, self.ports
        self.start("palisade-control", [
            os.path.join(a.bin_dir, "control/palisade-control"), "serve",
            f"--trust_domain={TRUST_DOMAIN}", f"--state_dir={self.path('state')}",
            f"--listen=127.0.0.1:{p['control']}", f"--admin=127.0.0.1:{p['control_admin']}",
            f"--svid_ttl={a.svid_ttl}"])
        self.wait_http(f"http://127.0.0.1:{p['control_admin']}/healthz")
        for w in WORKLOADS:
            token = self.control("token", "create", f"--spiffe_id={spiffe(w)}", "--ttl=10m")
            with open(self.path(f"{w}.token"), "w") as f:
                f.write(token.splitlines()[-1] + "\n")
            os.chmod(self.path(f"{w}.token"), 0o600)
        self.start("backend-app", [sys.executable, a.demo_service, "backend",
                                   f"--port={p['backend_app']}", "--name=backend"])
        for w in ("backend", "frontend", "intruder"):
            with open(self.path(f"{w}.yaml"), "w") as f:
                f.write(self.proxy_yaml(w))
            self.start(f"proxy-{w}", [os.path.join(a.bin_dir, "proxy/palisade-proxy"),
                                      f"--config={self.path(w + '.yaml')}"])
        for w in WORKLOADS:
            self.wait_http(f"http://127.0.0.1:{p[w + '_admin']}/ready")
        for w, every in (("frontend", 0.3), ("intruder", 2.0)):
            self.start(f"{w}-app", [sys.executable, a.demo_service, "caller",
                                    f"--target=http://127.0.0.1:{p[w + '_out']}/",
                                    f"--every={every}", f"--name={w}",
                                    f"--status={self.path(w + '.status')}"])

    def down(self):
        # Callers first, then proxies, then the backend and the control plane.
        for name, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            # Each should end cleanly on its SIGTERM; the summary tells.
            self.exits[name] = proc.returncode
            with open(self.path(f"{name}.log"), errors="replace") as log:
                self.note_report(name, log.read())
        for name in self.exits:
            if self.exits[name] != 0 or name in self.reports:
                print(f"mesh: {name} exited with {self.exits[name]}"
                      f"{', with a sanitizer report' if name in self.reports else ''}",
                      file=sys.stderr)
        if self.args.keep:
            print(f"logs and state kept in {self.work}")
        else:
            shutil.rmtree(self.work, ignore_errors=True)

    # ---- status ----
    def fetch(self, url):
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return r.read().decode()
        except OSError:
            return ""

    @staticmethod
    def metric_sum(text, name, **labels):
        total = 0.0
        for line in text.splitlines():
            if not line.startswith(name + "{") and not line.startswith(name + " "):
                continue
            head, _, value = line.rpartition(" ")
            if all(f'{k}="{v}"' in head for k, v in labels.items()):
                total += float(value)
        return total

    def snapshot(self):
        rows = []
        for w in WORKLOADS:
            admin = f"http://127.0.0.1:{self.ports[w + '_admin']}"
            certs = self.fetch(admin + "/certs")
            metrics = self.fetch(admin + "/metrics")
            svid = (json.loads(certs).get("svid") if certs else None) or {}
            serial = svid.get("serial", "")
            if serial and serial not in self.history[w]["serials"]:
                self.history[w]["serials"].append(serial)
            rows.append({
                "workload": w, "spiffe_id": svid.get("spiffe_id", "(no SVID yet)"),
                "serial": serial, "expires_in": svid.get("expires_in_seconds"),
                "rotations": int(self.metric_sum(metrics, "palisade_svid_rotations_total")),
                "handshakes_ok": int(self.metric_sum(metrics, "palisade_handshakes_total",
                                                     result="success")),
                "handshakes_failed": int(self.metric_sum(metrics, "palisade_handshakes_total",
                                                         result="failure")),
                "denied": int(self.metric_sum(metrics, "palisade_authorization_denials_total")),
                "successes_by_peer": {peer: int(self.metric_sum(
                    metrics, "palisade_handshakes_total", result="success", peer_identity=peer))
                    for peer in map(spiffe, WORKLOADS)},
                "admin": admin})
        callers = {}
        for w in ("frontend", "intruder"):
            try:
                callers[w] = json.load(open(self.path(w + ".status")))
            except (OSError, ValueError):
                callers[w] = {"calls": 0, "ok": 0, "failed": 0, "last": ""}
        return rows, callers

    def render(self, started):
        rows, callers = self.snapshot()
        p = self.ports
        out = [f"Palisade local mesh on loopback, {int(time.time() - started)}s running. "
               f"Ctrl-C stops everything.",
               f"  palisade-control: identity 127.0.0.1:{p['control']}, admin "
               f"http://127.0.0.1:{p['control_admin']}, overview http://127.0.0.1:{p['control_admin']}/",
               "",
               f"  {'SPIFFE ID':<40} {'serial':<10} {'expires':>8} {'rotations':>9} "
               f"{'handshakes ok/failed':>21}  admin"]
        for r in rows:
            expires = f"{r['expires_in']}s" if r["expires_in"] is not None else "-"
            out.append(f"  {r['spiffe_id']:<40} {r['serial'][:8]:<10} {expires:>8} "
                       f"{r['rotations']:>9} {r['handshakes_ok']:>10}/{r['handshakes_failed']:<10} "
                       f"{r['admin']}")
        f, i = callers["frontend"], callers["intruder"]
        backend = next(r for r in rows if r["workload"] == "backend")
        out += ["",
                f"  frontend -> backend: {f['calls']} calls, {f['ok']} ok, {f['failed']} failed;"
                f" last: {f['last']}",
                f"  intruder -> backend: {i['calls']} calls, {i['failed']} refused; backend denied "
                f"{backend['denied']} handshake(s) from {spiffe('intruder')} (not_authorized)"]
        return "\n".join(out), rows, callers

    def summary(self, rows, callers):
        return {"workloads": {r["workload"]: {**r, "serials_seen": self.history[r["workload"]]["serials"]}
                              for r in rows},
                "callers": callers, "ports": self.ports,
                "pids": {name: proc.pid for name, proc in self.procs}}


def parse_duration(text):
    units = {"s": 1, "m": 60, "h": 3600}
    return float(text[:-1]) * units[text[-1]] if text[-1] in units else float(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin-dir", required=True)
    parser.add_argument("--demo-service",
                        default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                             "demo_service.py"))
    parser.add_argument("--base-port", type=int, default=None)
    parser.add_argument("--svid-ttl", default="60s")
    parser.add_argument("--duration", type=float, default=0, help="seconds; 0 = until Ctrl-C")
    parser.add_argument("--summary", default="", help="write a JSON summary here at the end")
    parser.add_argument("--keep", action="store_true", help="keep logs and state")
    args = parser.parse_args()
    args.base_port_given = args.base_port is not None
    if args.base_port is None:
        args.base_port = 20000 + (os.getuid() % 250) * BLOCK
    parse_duration(args.svid_ttl)  # fails early on a bad value

    stop = {"now": False}
    signal.signal(signal.SIGINT, lambda *_: stop.update(now=True))
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    mesh = Mesh(args)
    tty = sys.stdout.isatty()
    rows, callers = [], {}
    status = 0
    try:
        mesh.up()
        started = time.time()
        last_print = 0
        while not stop["now"] and (not args.duration or time.time() - started < args.duration):
            text, rows, callers = mesh.render(started)
            if tty:
                sys.stdout.write("\033[H\033[J" + text + "\n")
                sys.stdout.flush()
            elif time.time() - last_print >= 5:
                print(text + "\n", flush=True)
                last_print = time.time()
            time.sleep(1)
        text, rows, callers = mesh.render(started)
        print(text)
    except (RuntimeError, subprocess.CalledProcessError, OSError) as error:
        detail = getattr(error, "stderr", "") or ""
        print(f"mesh: {error} {detail}".strip(), file=sys.stderr)
        status = 1
    finally:
        summary = mesh.summary(rows, callers) if rows else None
        print("stopping ...")
        mesh.down()
        print("stopped; nothing left running.")
        if args.summary and summary:
            summary["exits"] = mesh.exits
            summary["sanitizer_reports"] = mesh.reports
            with open(args.summary, "w") as f:
                json.dump(summary, f, indent=2)
    return status


if __name__ == "__main__":
    sys.exit(main())
