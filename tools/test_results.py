#!/usr/bin/env python3
"""Counts the test cases that really ran, from Bazel's build event stream.

Usage: test_results.py [--check NAME=passed|failed ...] BEP_JSON...

For every test target in each build event file it reads the target's test.xml
(the gtest cases, or Bazel's one case for a plain test) and counts each case
that ran. A target that failed to build, timed out or failed without a failing
case in its XML counts as one failed case, so nothing is hidden. Prints the
failures, then "N passed, N failed" alone on the last line. Exits 1 if any
failed or none ran.
"""
import json
import os
import sys
import urllib.parse
import xml.etree.ElementTree as ET


def read_cases(xml_path):
    """Returns (passed, failed, failed_names) from one test.xml."""
    root = ET.parse(xml_path).getroot()
    passed, failed, names = 0, 0, []
    for case in root.iter("testcase"):
        if case.get("status", "run") == "notrun" or case.find("skipped") is not None:
            continue
        if case.find("failure") is not None or case.find("error") is not None:
            failed += 1
            names.append(f"{case.get('classname', '')}.{case.get('name', '')}")
        else:
            passed += 1
    return passed, failed, names


def file_uri_to_path(uri):
    return urllib.parse.unquote(urllib.parse.urlparse(uri).path)


def scan(bep_path, label_prefix):
    """Yields (label, status, xml_path or None) per test target attempt."""
    results = {}
    with open(bep_path) as f:
        for line in f:
            event = json.loads(line)
            ident = event.get("id", {})
            if "testResult" in ident:
                label = ident["testResult"]["label"]
                body = event.get("testResult", {})
                xml = None
                for out in body.get("testActionOutput", []):
                    if out.get("name") == "test.xml":
                        xml = file_uri_to_path(out["uri"])
                results[label] = (body.get("status", "NO_STATUS"), xml)
            elif "targetCompleted" in ident:
                label = ident["targetCompleted"]["label"]
                completed = event.get("completed", {})
                is_test = "testSize" in completed or completed.get("tag") is not None
                if not completed.get("success", False) and label not in results:
                    # Failed to build: it has no test result at all.
                    if is_test or event.get("aborted") is None:
                        results[label] = ("FAILED_TO_BUILD", None)
            elif "testSummary" in ident:
                label = ident["testSummary"]["label"]
                status = event.get("testSummary", {}).get("overallStatus", "NO_STATUS")
                if label not in results:
                    results[label] = (status, None)
    for label, (status, xml) in sorted(results.items()):
        yield label_prefix + label, status, xml


def main(argv):
    checks, beps = [], []
    args = iter(argv)
    for arg in args:
        if arg == "--check":
            checks.append(next(args))
        else:
            beps.append(arg)

    passed, failed, failures = 0, 0, []
    for bep in beps:
        prefix = f"[{os.path.basename(bep).split('.')[0]}] "
        for label, status, xml in scan(bep, prefix):
            p = f = 0
            names = []
            if xml and os.path.exists(xml):
                p, f, names = read_cases(xml)
            ok = status == "PASSED"
            if not ok and f == 0:
                f, names = 1, [status]
            if ok and p + f == 0:
                # A passing target whose XML holds no case still ran once.
                p = 1
            passed += p
            failed += f
            for name in names:
                failures.append(f"{label}: {name}")
    for check in checks:
        name, _, result = check.partition("=")
        if result == "passed":
            passed += 1
        else:
            failed += 1
            failures.append(f"[check] {name}")

    for line in failures:
        print(f"FAILED {line}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
