"""Under CI a skip fails the run, except for tests marked ``ci_may_skip``."""

from __future__ import annotations

from pathlib import Path

import pytest

CONFTEST = (Path(__file__).parent / "conftest.py").read_text()

INNER_TESTS = """
import pytest

def test_skips():
    pytest.skip("psycopg is not installed")

def test_importorskip():
    pytest.importorskip("no_such_module_anywhere")

@pytest.mark.ci_may_skip("needs a real cluster (KUBECONFIG)")
def test_allowed():
    pytest.skip("KUBECONFIG is not set")

@pytest.mark.xfail(reason="known")
def test_xfail():
    assert False

def test_passes():
    pass
"""


def _run_inner(pytester, monkeypatch, **env):
    for var in ("AX_NAS_STRICT_SKIPS", "CI"):
        monkeypatch.delenv(var, raising=False)
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    pytester.makeconftest(CONFTEST)
    pytester.makeini(
        "[pytest]\nmarkers =\n    ci_may_skip(reason): may skip under CI too\n"
    )
    pytester.makepyfile(test_inner=INNER_TESTS)
    return pytester.runpytest("-rfEs", "-p", "no:cacheprovider")


def test_skips_stay_skips_outside_ci(pytester, monkeypatch):
    result = _run_inner(pytester, monkeypatch)
    result.assert_outcomes(passed=1, skipped=3, xfailed=1)


@pytest.mark.parametrize(
    "env", [{"AX_NAS_STRICT_SKIPS": "1"}, {"CI": "true"}], ids=["strict", "ci"]
)
def test_skips_fail_under_ci_except_the_allowed(pytester, monkeypatch, env):
    result = _run_inner(pytester, monkeypatch, **env)
    result.assert_outcomes(passed=1, failed=2, skipped=1, xfailed=1)
    result.stdout.fnmatch_lines(
        [
            "*FAILED*test_skips*",
            "*FAILED*test_importorskip*",
            "SKIPPED*KUBECONFIG is not set*",
        ]
    )
    assert "psycopg is not installed" in result.stdout.str()


def test_ci_false_is_not_ci(pytester, monkeypatch):
    result = _run_inner(pytester, monkeypatch, CI="false")
    result.assert_outcomes(passed=1, skipped=3, xfailed=1)


MODULE_SKIP = """
import pytest

pytest.importorskip("no_such_extra_anywhere")


def test_never_collected():
    pass
"""


@pytest.mark.parametrize("strict", [False, True], ids=["local", "ci"])
def test_a_module_skipped_at_import_fails_under_ci(pytester, monkeypatch, strict):
    for var in ("AX_NAS_STRICT_SKIPS", "CI"):
        monkeypatch.delenv(var, raising=False)
    if strict:
        monkeypatch.setenv("AX_NAS_STRICT_SKIPS", "1")
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_module_skip=MODULE_SKIP)
    result = pytester.runpytest("-rfEs", "-p", "no:cacheprovider")
    if strict:
        result.assert_outcomes(errors=1)
        result.stdout.fnmatch_lines(["*test_module_skip.py was skipped as a whole*"])
        assert "no_such_extra_anywhere" in result.stdout.str()
    else:
        result.assert_outcomes(skipped=1)
