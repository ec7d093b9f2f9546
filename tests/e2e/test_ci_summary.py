"""scripts/test_summary.py: the closing line of scripts/test.sh counts unit-test cases where the unit tests left
their counts (tests/support/skip_code.c), and never reads cleaner than the reports it sums."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# As ctest 3.25 writes --output-junit (attributes and elements it uses; output trimmed).
CTEST = """<?xml version="1.0" encoding="UTF-8"?>
<testsuite name="(empty)" tests="{tests}" failures="{failures}" disabled="0" skipped="{skipped}" hostname="" time="3">
{cases}
</testsuite>
"""
RUN = '<testcase name="{0}" classname="{0}" time="0.1" status="run"><system-out>ok</system-out></testcase>'
FAIL = ('<testcase name="{0}" classname="{0}" time="0.1" status="fail"><failure message="Failed"/>'
        '<system-out>boom</system-out></testcase>')
SKIP = ('<testcase name="{0}" classname="{0}" time="0.1" status="notrun"><skipped message="Skipped"/>'
        '<system-out>skip</system-out></testcase>')
# As pytest writes --junitxml.
PYTEST = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" errors="0" failures="1"
skipped="1" tests="5" time="2.0"><testcase classname="a" name="t1"/><testcase classname="a" name="t2"/>
<testcase classname="a" name="t3"/><testcase classname="a" name="t4"><failure message="x"/></testcase>
<testcase classname="a" name="t5"><skipped message="y"/></testcase></testsuite></testsuites>
"""


def ctest_report(d, name, cases):
    """A ctest report d/name.xml of cases [(executable, "run" | "fail" | "skip")]."""
    body = "\n".join({"run": RUN, "fail": FAIL, "skip": SKIP}[how].format(exe) for exe, how in cases)
    (d / f"{name}.xml").write_text(CTEST.format(tests=len(cases), cases=body,
                                                failures=sum(how == "fail" for _, how in cases),
                                                skipped=sum(how == "skip" for _, how in cases)))


def counts(d, name, exe, group, line):
    c = d / f"cases-{name}"
    c.mkdir(exist_ok=True)
    (c / f"{exe}.{group}.cases").write_text(line + "\n")


def summary(d, failed_stages=0):
    out = subprocess.run([sys.executable, str(ROOT / "scripts/test_summary.py"), str(d), str(failed_stages)],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_counts_executables_without_case_files(tmp_path):
    ctest_report(tmp_path, "unit", [("test_a", "run"), ("test_b", "skip"), ("test_c", "fail")])
    assert summary(tmp_path) == "1 passed, 1 failed, 1 skipped"


def test_counts_cases_where_the_unit_tests_left_them(tmp_path):
    ctest_report(tmp_path, "unit", [("test_a", "run"), ("test_b", "skip"), ("test_c", "run")])
    counts(tmp_path, "unit", "test_a", 0, "12 0 0 tests")
    counts(tmp_path, "unit", "test_a", 1, "3 0 0 more_tests")  # a second group in one executable
    counts(tmp_path, "unit", "test_b", 0, "13 0 1 tests")
    # test_c left none (an executable not linked through skip_code.c): counted as ctest counts it.
    assert summary(tmp_path) == "28 passed, 0 failed, 1 skipped"


def test_a_failed_executable_never_reads_as_passed(tmp_path):
    # ctest says failed, the cases say none did: an ASan leak report at exit, or a crash after the last group.
    ctest_report(tmp_path, "unit-asan", [("test_a", "fail"), ("test_b", "fail")])
    counts(tmp_path, "unit-asan", "test_a", 0, "4 0 0 tests")
    counts(tmp_path, "unit-asan", "test_b", 0, "5 2 1 tests")
    assert summary(tmp_path) == "5 passed, 3 failed, 1 skipped"


def test_case_files_of_another_stage_are_not_mixed_in(tmp_path):
    ctest_report(tmp_path, "unit", [("test_a", "run")])
    ctest_report(tmp_path, "unit-tsan", [("test_a", "run")])
    counts(tmp_path, "unit", "test_a", 0, "7 0 0 tests")
    assert summary(tmp_path) == "8 passed, 0 failed, 0 skipped"


def test_pytest_reports_and_failed_stages(tmp_path):
    (tmp_path / "e2e-1.xml").write_text(PYTEST)
    ctest_report(tmp_path, "unit", [("test_a", "run")])
    counts(tmp_path, "unit", "test_a", 0, "2 0 0 tests")
    assert summary(tmp_path) == "5 passed, 1 failed, 1 skipped"
    clean = tmp_path / "clean"
    clean.mkdir()
    ctest_report(clean, "unit", [("test_a", "run")])
    # A stage that failed without a report (a build error) counts as a failure when no report holds one.
    assert summary(clean, failed_stages=2) == "1 passed, 2 failed, 0 skipped"
