#!/usr/bin/env python3
"""The one closing line of scripts/test.sh: "<passed> passed, <failed> failed, <skipped> skipped" over every JUnit
report in a directory (ctest's, pytest's, the layer check's).

ctest counts a unit-test executable as one test. Where a stage also left its cases' counts (tests/support/
skip_code.c writes <dir>/cases-<report name>/<executable>.<n>.cases, "<cases> <failed> <skipped> <group>", when
LLMGW_TEST_CASES is set), the executable counts as its cases instead: 12 passed and 1 skipped, not "1 skipped".
An executable that failed under ctest with no failed case counted (a sanitizer report at exit, a crash before a
group ended) adds one failure, so the line never reads cleaner than ctest's own.

Usage: test_summary.py REPORT_DIR [FAILED_STAGES]; FAILED_STAGES (stages that failed without a report) is the
failure count when the reports hold none."""
import glob
import os
import sys
import xml.etree.ElementTree as ET


def case_counts(cases_dir):
    """{executable: (cases, failed, skipped)} summed over its groups' files in cases_dir."""
    counts = {}
    for path in glob.glob(os.path.join(cases_dir, "*.cases")):
        exe = os.path.basename(path).rsplit(".", 2)[0]
        with open(path) as f:
            fields = f.read().split(maxsplit=3)
        n, failed, skipped = (int(x) for x in fields[:3])
        total = counts.get(exe, (0, 0, 0))
        counts[exe] = (total[0] + n, total[1] + failed, total[2] + skipped)
    return counts


def outcome(case):
    """A JUnit test case's outcome: "failed", "skipped" or "passed"."""
    if case.find("failure") is not None or case.find("error") is not None or case.get("status") == "fail":
        return "failed"
    if case.find("skipped") is not None or case.get("status") in ("notrun", "disabled"):
        return "skipped"
    return "passed"


def tally(report_dir):
    """(passed, failed, skipped) over every *.xml in report_dir."""
    passed = failed = skipped = 0
    for path in sorted(glob.glob(os.path.join(report_dir, "*.xml"))):
        cases = case_counts(os.path.join(report_dir, "cases-" + os.path.basename(path)[:-len(".xml")]))
        root = ET.parse(path).getroot()
        for suite in ([root] if root.tag == "testsuite" else root.iter("testsuite")):
            counted = [c for c in suite.iter("testcase") if c.get("name") in cases]
            for case in counted:
                n, bad, skip = cases[case.get("name")]
                if outcome(case) == "failed" and bad == 0:
                    bad = 1
                passed += max(n - bad - skip, 0)
                failed += bad
                skipped += skip
            # The rest as the suite counts them (its totals, as pytest writes no per-case status attribute).
            total = int(suite.get("tests", 0)) - len(counted)
            bad = int(suite.get("failures", 0)) + int(suite.get("errors", 0)) \
                - sum(1 for c in counted if outcome(c) == "failed")
            skip = int(suite.get("skipped", 0) or suite.get("disabled", 0) or 0) \
                - sum(1 for c in counted if outcome(c) == "skipped")
            passed += total - bad - skip
            failed += bad
            skipped += skip
    return passed, failed, skipped


def main():
    passed, failed, skipped = tally(sys.argv[1])
    if failed == 0 and len(sys.argv) > 2:
        failed = int(sys.argv[2])
    print(f"{passed} passed, {failed} failed, {skipped} skipped")


if __name__ == "__main__":
    main()
