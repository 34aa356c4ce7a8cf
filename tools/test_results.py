#!/usr/bin/env python3
"""Counts the test cases that really ran, from Bazel's build event stream.

Usage: test_results.py [--check NAME=passed|failed ...] [--pass NAME EXIT BEP_JSON ...]

Each --pass is one `bazel test` run: its name, Bazel's exit code and its build
event JSON file. For every test target in it, the target's test.xml gives the
gtest cases (or Bazel's one case for a plain test): each case passed, failed
or skipped. A target that failed to build, timed out or failed without a
failing case in its XML counts as one failed case, and a target whose every
case skipped counts as skipped, not passed, so nothing is hidden.

A pass is complete when its event file ends with a buildFinished event, no
event was aborted (interrupted, out of memory, ...) and every test target it
announced has a summary. A pass that is incomplete, or whose Bazel exit code
is not 0 with no failing case to show for it, counts as one failed case.

Prints the failures, one line per pass, the skipped cases, then
"N passed, N failed, N skipped" alone on the last line. Exits 1 if any case
failed, any pass was incomplete or Bazel failed, or none passed.
"""
import argparse
import json
import os
import sys
import urllib.parse
import xml.etree.ElementTree as ET

# Exit codes with which `bazel test --keep_going` has run every test it could:
# 0 all passed, 1 some target failed to build, 3 some test failed.
COMPLETED_EXIT_CODES = (0, 1, 3)
# How much of each failed test's log the summary repeats, for how many tests.
LOG_TAIL_LINES = 15
LOG_TAIL_TARGETS = 3


def read_cases(xml_path):
    """Returns (passed, failed, skipped) name lists from one test.xml."""
    root = ET.parse(xml_path).getroot()
    passed, failed, skipped = [], [], []
    for case in root.iter("testcase"):
        name = f"{case.get('classname', '')}.{case.get('name', '')}".lstrip(".")
        if case.find("failure") is not None or case.find("error") is not None:
            failed.append(name)
        elif (case.get("status", "run") == "notrun" or case.get("result") == "skipped"
              or case.find("skipped") is not None):
            reason = case.find("skipped")
            message = reason.get("message", "") if reason is not None else ""
            message = " ".join(message.split())  # one line per skipped case
            skipped.append(f"{name} ({message})" if message else name)
        else:
            passed.append(name)
    return passed, failed, skipped


def file_uri_to_path(uri):
    return urllib.parse.unquote(urllib.parse.urlparse(uri).path)


class Pass:
    """What one `bazel test` run's event file says."""

    def __init__(self, name, exit_code, bep_path):
        self.name = name
        self.exit_code = exit_code
        self.bep_path = bep_path
        self.targets = {}  # label -> [status, {(run, shard): test.xml path}]
        self.announced = set()  # ids of events Bazel promised to post
        self.posted = set()
        self.finished = None  # the buildFinished event's body
        self.last_message = False
        self.problems = []  # why the pass is incomplete
        self.failed_logs = {}  # label -> test.log of its last failed attempt
        self.read()

    def target(self, label):
        return self.targets.setdefault(label, [None, {}])

    def read(self):
        if not os.path.exists(self.bep_path):
            self.problems.append("no build event file")
            return
        with open(self.bep_path) as f:
            lines = f.readlines()
        for number, line in enumerate(lines, 1):
            try:
                event = json.loads(line)
            except ValueError:
                self.problems.append(f"event {number} is cut off")
                continue
            self.read_event(event)
        if self.finished is None:
            self.problems.append("no buildFinished event")
        else:
            code = self.finished.get("exitCode", {})
            if code.get("code", 0) not in COMPLETED_EXIT_CODES:
                self.problems.append(f"build finished {code.get('name', '')}".strip())
        if not self.last_message:
            self.problems.append("the event stream has no last message")
        # Bazel posts every event it announced (or an aborted one in its place)
        # unless it died: a test it meant to run may never have run.
        missing = [json.loads(i) for i in sorted(self.announced - self.posted)]
        tests = sorted({i["testSummary"]["label"] for i in missing if "testSummary" in i})
        targets = sorted({i["targetCompleted"]["label"] for i in missing if "targetCompleted" in i})
        if tests:
            self.problems.append(f"no result for {len(tests)} test(s): {', '.join(tests[:5])}")
        if targets:
            self.problems.append(f"{len(targets)} target(s) never completed: "
                                 f"{', '.join(targets[:5])}")
        if missing and not tests and not targets:
            self.problems.append(f"{len(missing)} announced event(s) never posted")

    def read_aborted(self, ident, aborted):
        kind = next(iter(ident), "event")
        label = ident.get(kind, {}).get("label", "")
        reason = aborted.get("reason", "UNKNOWN")
        if reason in ("UNKNOWN", "LOADING_FAILURE", "ANALYSIS_FAILURE") and kind in (
                "targetCompleted", "targetConfigured"):
            # A broken target; Bazel went on with the others (--keep_going).
            entry = self.target(label)
            entry[0] = entry[0] or f"FAILED_TO_BUILD ({reason.lower()})"
        elif reason in ("UNKNOWN", "LOADING_FAILURE", "ANALYSIS_FAILURE") and kind in (
                "unconfiguredLabel", "configuredLabel"):
            pass  # a missing dependency: the target that needs it is counted
        elif reason == "SKIPPED" and label:
            self.target(label)[0] = "SKIPPED"
        else:
            what = f"{kind} {label}".strip()
            detail = aborted.get("description", "")
            self.problems.append(f"{what} aborted: {reason} {detail}".strip())

    def read_event(self, event):
        ident = event.get("id", {})
        self.posted.add(json.dumps(ident, sort_keys=True))
        for child in event.get("children", []):
            self.announced.add(json.dumps(child, sort_keys=True))
        self.last_message = self.last_message or event.get("lastMessage", False)
        if "aborted" in event:
            self.read_aborted(ident, event["aborted"])
        elif "testResult" in ident:
            label = ident["testResult"]["label"]
            body = event.get("testResult", {})
            key = (ident["testResult"].get("run", 1), ident["testResult"].get("shard", 1))
            for out in body.get("testActionOutput", []):
                if out.get("name") == "test.xml":
                    # A later attempt (flaky retry) replaces an earlier one.
                    self.target(label)[1][key] = file_uri_to_path(out["uri"])
                elif out.get("name") == "test.log" and body.get("status") != "PASSED":
                    self.failed_logs[label] = file_uri_to_path(out["uri"])
        elif "testSummary" in ident:
            label = ident["testSummary"]["label"]
            self.target(label)[0] = event.get("testSummary", {}).get("overallStatus", "NO_STATUS")
        elif "targetCompleted" in ident:
            label = ident["targetCompleted"]["label"]
            if not event.get("completed", {}).get("success", False):
                entry = self.target(label)
                entry[0] = entry[0] or "FAILED_TO_BUILD"
        elif "buildFinished" in ident:
            self.finished = event.get("finished", {})

    @property
    def complete(self):
        return not self.problems and self.exit_code in COMPLETED_EXIT_CODES

    def count(self):
        """Returns (passed, failed, skipped) lists of "label: case" names."""
        passed, failed, skipped = [], [], []
        for label, (status, xmls) in sorted(self.targets.items()):
            p, f, s = [], [], []
            for key in sorted(xmls):
                if os.path.exists(xmls[key]):
                    cp, cf, cs = read_cases(xmls[key])
                    p, f, s = p + cp, f + cf, s + cs
            if status is None:
                continue  # no summary: the pass is incomplete, which says so
            if status == "SKIPPED":
                skipped.append(f"{label}: (target skipped)")
                continue
            ok = status in ("PASSED", "FLAKY")
            if not ok and not f:
                f = [status or "NO_STATUS"]
            if ok and not (p or f or s):
                p = [label]  # a passing target whose XML holds no case still ran once
            passed += [f"{label}: {c}" for c in p]
            failed += [f"{label}: {c}" for c in f]
            skipped += [f"{label}: {c}" for c in s]
        return passed, failed, skipped


def log_tails(one, failed, lines=LOG_TAIL_LINES, targets=LOG_TAIL_TARGETS):
    """The last lines of the first failed targets' logs: CI shows only the end
    of its output, and the cause must be in it."""
    labels = sorted({c.split(": ", 1)[0] for c in failed} & set(one.failed_logs))
    out = []
    for label in labels[:targets]:
        try:
            with open(one.failed_logs[label], errors="replace") as f:
                tail = f.read().splitlines()[-lines:]
        except OSError as e:
            tail = [f"(cannot read {one.failed_logs[label]}: {e.strerror})"]
        out.append(f"--- [{one.name}] {label}: last {len(tail)} lines of test.log")
        out += ["  " + line[:300] for line in tail]
    return out


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="append", default=[], metavar="NAME=passed|failed")
    parser.add_argument("--pass", dest="passes", action="append", default=[], nargs=3,
                        metavar=("NAME", "EXIT", "BEP_JSON"))
    return parser.parse_args(argv)


def main(argv):
    args = parse_args(argv)
    passed = failed = skipped = 0
    failures, pass_lines, skip_lines, tails = [], [], [], []
    run_failed = False
    for name, exit_code, bep in args.passes:
        one = Pass(name, int(exit_code), bep)
        p, f, s = one.count()
        if not one.complete:
            problems = one.problems or [f"bazel exited {one.exit_code}"]
            f.append("pass did not complete: " + "; ".join(problems[:5]) +
                     (f"; and {len(problems) - 5} more" if len(problems) > 5 else ""))
        elif one.exit_code != 0 and not f:
            f.append(f"bazel exited {one.exit_code} without a failing test")
        run_failed = run_failed or not one.complete or one.exit_code != 0
        passed, failed, skipped = passed + len(p), failed + len(f), skipped + len(s)
        failures += [f"[{name}] {c}" for c in f]
        tails += log_tails(one, f)
        skip_lines += [f"[{name}] {c}" for c in s]
        state = "complete" if one.complete else "INCOMPLETE"
        pass_lines.append(f"pass {name}: {len(p)} passed, {len(f)} failed, {len(s)} skipped "
                          f"(bazel exit {one.exit_code}, {state})")
    for check in args.check:
        name, _, result = check.partition("=")
        if result == "passed":
            passed += 1
        else:
            failed += 1
            failures.append(f"[check] {name}")
        pass_lines.append(f"check {name}: {result}")

    for line in tails:
        print(line)
    for line in failures:
        print(f"FAILED {line}")
    for line in pass_lines:
        print(line)
    for line in skip_lines:
        print(f"SKIPPED {line}")
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed or run_failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
