#!/usr/bin/env python3
"""The local mesh's demo services (standard library only).

    demo_service.py backend --port=PORT --name=backend
        answers every HTTP GET with "hello from <name> #<n>"
    demo_service.py caller --target=URL --every=0.3 --name=frontend --status=FILE
        GETs URL every few hundred milliseconds and keeps a one-line JSON status
        in FILE: calls, successes, failures, the last answer or error.
"""
import argparse
import http.server
import json
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.request


def backend(args):
    counter = {"n": 0}
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            with lock:
                counter["n"] += 1
                n = counter["n"]
            body = f"hello from {args.name} #{n}\n".encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *unused):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    server.serve_forever()


def caller(args):
    status = {"name": args.name, "calls": 0, "ok": 0, "failed": 0, "last": ""}
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    while not stop.is_set():
        status["calls"] += 1
        try:
            with urllib.request.urlopen(args.target, timeout=5) as answer:
                status["ok"] += 1
                status["last"] = answer.read().decode().strip()
        except (urllib.error.URLError, OSError, ConnectionError) as error:
            status["failed"] += 1
            status["last"] = f"refused: {getattr(error, 'reason', error)}"
        tmp = args.status + ".tmp"
        with open(tmp, "w") as f:
            json.dump(status, f)
        os.replace(tmp, args.status)
        stop.wait(args.every)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["backend", "caller"])
    parser.add_argument("--port", type=int)
    parser.add_argument("--name", default="demo")
    parser.add_argument("--target")
    parser.add_argument("--every", type=float, default=0.3)
    parser.add_argument("--status")
    args = parser.parse_args()
    backend(args) if args.role == "backend" else caller(args)


if __name__ == "__main__":
    sys.exit(main())
