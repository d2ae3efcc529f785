"""Fault points for the fault-injection tests (standard library only).

The rule: ``point(name)`` does nothing unless the environment variable
``AX_NAS_FAULT`` names this point; then the calling process sends itself
SIGKILL right there, so a test can kill the orchestrator or a supervisor at
an exact window (between writing a job's intent and submitting it, after a
stop was requested, ...) instead of sleeping and hoping. ``AX_NAS_FAULT``
holds comma-separated point names; ``name@N`` fires only for trial ``N``.
Nothing in normal use sets it. The supervisor loads this module by path.

Points used: ``after_intent``, ``after_submit``, ``after_confirm`` (runner
``run``); ``after_stop_intent``, ``after_cancel`` (runner ``stop``);
``supervisor_after_start`` (the supervisor, once the job started).
"""

from __future__ import annotations

import os
import signal

ENV = "AX_NAS_FAULT"


def armed(name: str, trial: int | None = None) -> bool:
    """True when ``$AX_NAS_FAULT`` names ``name`` (or ``name@trial``)."""
    value = os.environ.get(ENV)
    if not value:
        return False
    wanted = {v.strip() for v in value.split(",")}
    return name in wanted or (trial is not None and f"{name}@{trial}" in wanted)


def point(name: str, trial: int | None = None) -> None:
    """SIGKILL this process when the fault ``name`` is armed (see module doc)."""
    if armed(name, trial):
        os.kill(os.getpid(), signal.SIGKILL)
