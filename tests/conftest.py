"""Shared fixtures: a tiny Ax experiment, and a subprocess helper."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run_python(code: str, env: dict[str, str] | None = None, timeout: float = 300):
    """Run ``code`` in a fresh interpreter; return the CompletedProcess (text)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def py():
    return run_python


# --- Under CI a skip is a failure, unless the test is marked ci_may_skip -------
#
# The rule: when AX_NAS_STRICT_SKIPS is set (.ci/run sets it) or CI is set
# (and not "false"/"0"), a test that skips (pytest.skip, importorskip, skipif)
# is reported as failed with its skip reason, so a missing extra, service or
# binary cannot turn a CI run green by skipping. A test that truly cannot run
# in CI (a real Kubernetes cluster needs KUBECONFIG) says so with
# ``@pytest.mark.ci_may_skip("reason")``; its skip stays a skip and ``-rs``
# prints why. Expected failures (xfail) are not skips.

pytest_plugins = ["pytester"]

STRICT_SKIPS_ENV = "AX_NAS_STRICT_SKIPS"


def strict_skips() -> bool:
    """Whether skips fail this run (CI)."""
    for var in (STRICT_SKIPS_ENV, "CI"):
        value = os.environ.get(var, "").strip().lower()
        if value and value not in ("0", "false", "no"):
            return True
    return False


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    return longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if (
        report.skipped
        and not hasattr(report, "wasxfail")
        and strict_skips()
        and item.get_closest_marker("ci_may_skip") is None
    ):
        report.outcome = "failed"
        report.longrepr = (
            f"Skipped under CI ({STRICT_SKIPS_ENV} or CI is set), but CI must run "
            f"this test: {_skip_reason(report)}\nInstall what it needs "
            "(scripts/test.sh), or, if it truly cannot run in CI, mark it "
            "@pytest.mark.ci_may_skip('why')."
        )
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector):
    """A whole module skipped at import (module-level importorskip) fails too."""
    report = yield
    if report.skipped and strict_skips():
        report.outcome = "failed"
        report.longrepr = (
            f"{collector.nodeid} was skipped as a whole under CI "
            f"({STRICT_SKIPS_ENV} or CI is set): {_skip_reason(report)}\nCI must "
            "run it; install what it needs (scripts/test.sh). A test that truly "
            "cannot run in CI skips inside the test, marked "
            "@pytest.mark.ci_may_skip('why')."
        )
    return report
