#!/usr/bin/env python3
"""test_results.py must not report success for a run that did not happen:
an interrupted or cut-off pass, a failed Bazel, skipped cases, nothing run.
The event streams here have the shape Bazel 4.2.3 writes (seen in real runs)."""
import contextlib
import io
import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_results  # noqa: E402

CONFIG = {"id": "c1"}


def test_xml(cases):
    """cases: (name, "pass"|"fail"|"skip"|"notrun")."""
    body = []
    for name, state in cases:
        inner = {"fail": "<failure message='boom'/>", "skip": "<skipped message='needs root'/>"}
        status = "notrun" if state == "notrun" else "run"
        body.append(f"<testcase name='{name}' classname='Suite' status='{status}'>"
                    f"{inner.get(state, '')}</testcase>")
    return f"<testsuites><testsuite name='Suite'>{''.join(body)}</testsuite></testsuites>"


class Stream:
    """Builds one pass's build event file."""

    def __init__(self, directory):
        self.directory = directory
        self.events = [{"id": {"started": {}}, "children": [{"pattern": {"pattern": ["//..."]}}]}]
        self.pattern_children = []

    def test(self, label, status, cases=None, log=None):
        completed = {"targetCompleted": {"label": label, "configuration": CONFIG}}
        summary = {"testSummary": {"label": label, "configuration": CONFIG}}
        result = {"testResult": {"label": label, "run": 1, "shard": 1, "attempt": 1,
                                 "configuration": CONFIG}}
        self.pattern_children.append(completed)
        self.events.append({"id": completed, "children": [result, summary],
                            "completed": {"success": True}})
        outputs = []
        if cases is not None:
            path = os.path.join(self.directory, label.replace("/", "_").replace(":", "_") + ".xml")
            with open(path, "w") as f:
                f.write(test_xml(cases))
            outputs.append({"name": "test.xml", "uri": "file://" + path})
        if log is not None:
            path = os.path.join(self.directory, label.replace("/", "_").replace(":", "_") + ".log")
            with open(path, "w") as f:
                f.write(log)
            outputs.append({"name": "test.log", "uri": "file://" + path})
        self.events.append({"id": result, "testResult": {"testActionOutput": outputs,
                                                         "status": status}})
        self.events.append({"id": summary, "testSummary": {"overallStatus": status}})
        return self

    def interrupted(self, label):
        completed = {"targetCompleted": {"label": label, "configuration": CONFIG}}
        summary = {"testSummary": {"label": label, "configuration": CONFIG}}
        self.pattern_children.append(completed)
        self.events.append({"id": completed, "children": [summary], "completed": {"success": True}})
        self.events.append({"id": summary, "aborted": {"reason": "USER_INTERRUPTED"}})
        return self

    def broken(self, label):
        completed = {"targetCompleted": {"label": label, "configuration": CONFIG}}
        self.pattern_children.append(completed)
        self.events.append({"id": completed, "aborted": {}})
        return self

    def write(self, name, exit_name="SUCCESS", exit_code=0, cut_after=None):
        events = [self.events[0],
                  {"id": {"pattern": {"pattern": ["//..."]}}, "children": self.pattern_children}]
        events += self.events[1:]
        events.append({"id": {"buildFinished": {}},
                       "finished": {"exitCode": {"name": exit_name, "code": exit_code}},
                       "lastMessage": True})
        lines = [json.dumps(e) for e in events]
        if cut_after is not None:
            lines = lines[:cut_after] + [lines[cut_after][:20]]
        path = os.path.join(self.directory, name + ".json")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path


class TestResultsTest(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))

    def run_main(self, *args):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = test_results.main(list(args))
        return code, out.getvalue().splitlines()

    def test_a_complete_passing_run_counts_cases_and_exits_zero(self):
        bep = Stream(self.dir).test("//a:a_test", "PASSED", [("One", "pass"), ("Two", "pass")]) \
            .test("//b:b_test", "PASSED").write("plain")
        code, lines = self.run_main("--pass", "plain", "0", bep)
        self.assertEqual(code, 0)
        self.assertEqual(lines[-1], "3 passed, 0 failed, 0 skipped")
        self.assertIn("pass plain: 3 passed, 0 failed, 0 skipped (bazel exit 0, complete)", lines)

    def test_skipped_cases_are_counted_and_listed_above_the_closing_line(self):
        bep = Stream(self.dir).test(
            "//a:a_test", "PASSED", [("Runs", "pass"), ("NeedsRoot", "skip"), ("Off", "notrun")]) \
            .write("plain")
        code, lines = self.run_main("--pass", "plain", "0", bep)
        self.assertEqual(code, 0)
        self.assertEqual(lines[-1], "1 passed, 0 failed, 2 skipped")
        self.assertEqual(lines[-3], "SKIPPED [plain] //a:a_test: Suite.NeedsRoot (needs root)")
        self.assertEqual(lines[-2], "SKIPPED [plain] //a:a_test: Suite.Off")

    def test_a_target_whose_every_case_skipped_is_skipped_not_passed(self):
        bep = Stream(self.dir).test("//a:a_test", "PASSED", [("NeedsRoot", "skip")]) \
            .test("//b:b_test", "PASSED", [("Runs", "pass")]).write("plain")
        code, lines = self.run_main("--pass", "plain", "0", bep)
        self.assertEqual(lines[-1], "1 passed, 0 failed, 1 skipped")
        self.assertEqual(code, 0)

    def test_nothing_passed_is_a_failure(self):
        bep = Stream(self.dir).test("//a:a_test", "PASSED", [("NeedsRoot", "skip")]).write("plain")
        code, lines = self.run_main("--pass", "plain", "0", bep)
        self.assertEqual(lines[-1], "0 passed, 0 failed, 1 skipped")
        self.assertEqual(code, 1)

    def test_an_interrupted_pass_is_incomplete_and_fails(self):
        bep = Stream(self.dir).test("//a:a_test", "PASSED", [("One", "pass")]) \
            .interrupted("//b:b_test").write("asan", "INTERRUPTED", 8)
        code, lines = self.run_main("--pass", "asan", "8", bep)
        self.assertEqual(code, 1)
        self.assertEqual(lines[-1], "1 passed, 1 failed, 0 skipped")
        self.assertIn("pass asan: 1 passed, 1 failed, 0 skipped (bazel exit 8, INCOMPLETE)", lines)
        self.assertIn("USER_INTERRUPTED", lines[0])

    def test_a_stream_cut_off_by_a_dying_bazel_is_incomplete(self):
        stream = Stream(self.dir).test("//a:a_test", "PASSED", [("One", "pass")]) \
            .test("//b:b_test", "PASSED", [("Two", "pass")])
        bep = stream.write("asan", cut_after=4)  # in the middle of //b:b_test
        code, lines = self.run_main("--pass", "asan", "0", bep)
        self.assertEqual(code, 1)
        self.assertRegex(lines[0], r"FAILED \[asan\] pass did not complete: .*cut off")
        self.assertIn("no buildFinished event", lines[0])
        self.assertIn("//b:b_test", lines[0])

    def test_a_missing_event_file_is_incomplete(self):
        code, lines = self.run_main("--pass", "asan", "137", os.path.join(self.dir, "none.json"))
        self.assertEqual(code, 1)
        self.assertEqual(lines[-1], "0 passed, 1 failed, 0 skipped")
        self.assertIn("(bazel exit 137, INCOMPLETE)", lines[-2])

    def test_a_failing_bazel_fails_the_run_even_without_a_failing_test(self):
        bep = Stream(self.dir).test("//a:a_test", "PASSED", [("One", "pass")]).write("plain")
        code, lines = self.run_main("--pass", "plain", "1", bep)
        self.assertEqual(code, 1)
        self.assertEqual(lines[-1], "1 passed, 1 failed, 0 skipped")
        self.assertIn("bazel exited 1 without a failing test", lines[0])

    def test_failures_and_broken_targets_are_named(self):
        bep = Stream(self.dir).test("//a:a_test", "FAILED", [("Good", "pass"), ("Bad", "fail")]) \
            .test("//c:c_test", "TIMEOUT").broken("//d:d_test").write("plain", "TESTS_FAILED", 3)
        code, lines = self.run_main("--pass", "plain", "3", bep)
        self.assertEqual(code, 1)
        self.assertEqual(lines[-1], "1 passed, 3 failed, 0 skipped")
        self.assertIn("FAILED [plain] //a:a_test: Suite.Bad", lines)
        self.assertIn("FAILED [plain] //c:c_test: TIMEOUT", lines)
        self.assertIn("pass plain: 1 passed, 3 failed, 0 skipped (bazel exit 3, complete)", lines)

    def test_a_failed_tests_log_ends_are_shown_before_the_summary(self):
        log = "".join(f"line {i}\n" for i in range(40)) + "expectation failed: connect()\n"
        bep = Stream(self.dir).test("//a:a_test", "FAILED", [("Bad", "fail")], log=log) \
            .test("//b:b_test", "PASSED", [("Good", "pass")], log="quiet\n") \
            .write("asan", "TESTS_FAILED", 3)
        code, lines = self.run_main("--pass", "asan", "3", bep)
        self.assertEqual(code, 1)
        header = lines.index(
            f"--- [asan] //a:a_test: last {test_results.LOG_TAIL_LINES} lines of test.log")
        self.assertEqual(lines[header + test_results.LOG_TAIL_LINES],
                         "  expectation failed: connect()")
        self.assertLess(header, lines.index("FAILED [asan] //a:a_test: Suite.Bad"))
        self.assertFalse(any("//b:b_test: last" in line for line in lines))

    def test_each_pass_gets_its_line_and_checks_count(self):
        plain = Stream(self.dir).test("//a:a_test", "PASSED", [("One", "pass")]).write("plain")
        asan = Stream(self.dir).test("//a:a_test", "PASSED", [("One", "pass")]).write("asan")
        code, lines = self.run_main("--pass", "plain", "0", plain, "--pass", "asan", "0", asan,
                                    "--check", "format=failed")
        self.assertEqual(code, 1)
        self.assertEqual(lines[-1], "2 passed, 1 failed, 0 skipped")
        self.assertEqual(lines[0], "FAILED [check] format")
        self.assertEqual(lines[1:4], [
            "pass plain: 1 passed, 0 failed, 0 skipped (bazel exit 0, complete)",
            "pass asan: 1 passed, 0 failed, 0 skipped (bazel exit 0, complete)",
            "check format: failed",
        ])


if __name__ == "__main__":
    unittest.main()
