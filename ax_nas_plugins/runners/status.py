"""TorchX ``AppState`` to Ax ``TrialStatus``: one table, and the grace period.

The rule: a backend state maps to a trial status through
:data:`APP_STATE_TO_TRIAL_STATUS`, never through if-chains. ``UNKNOWN`` (and
a backend that cannot be asked: an exception, or a job it no longer knows)
maps to ``None``: the trial keeps its current status until it has been
unknown for ``grace_s`` seconds in a row; only then is it failed, with the
last explanation as its reason. A known state in between resets the clock.

Ax marks a trial RUNNING as soon as ``run()`` returns (these runners do not
require staging), so a job the backend still queues (``SUBMITTED``,
``PENDING``) is reported RUNNING; reporting STAGED would move it backwards.
A job cancelled outside Ax is ABANDONED; one cancelled by ``Runner.stop`` is
never polled again (Ax marks it EARLY_STOPPED itself).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ax.core.base_trial import TrialStatus

if TYPE_CHECKING:
    from torchx.specs import AppState


def _table() -> dict[AppState, TrialStatus | None]:
    from torchx.specs import AppState

    return {
        AppState.UNSUBMITTED: TrialStatus.RUNNING,
        AppState.SUBMITTED: TrialStatus.RUNNING,
        AppState.PENDING: TrialStatus.RUNNING,
        AppState.RUNNING: TrialStatus.RUNNING,
        AppState.SUCCEEDED: TrialStatus.COMPLETED,
        AppState.FAILED: TrialStatus.FAILED,
        AppState.CANCELLED: TrialStatus.ABANDONED,
        AppState.UNKNOWN: None,  # decided by the grace period
    }


APP_STATE_TO_TRIAL_STATUS: dict[AppState, TrialStatus | None] = _table()


class UnknownClock:
    """Remembers since when each trial has been unknown, to apply the grace period.

    Example::

        clock = UnknownClock(grace_s=60)
        clock.expired(3, now=0.0)    # False: first seen unknown
        clock.expired(3, now=61.0)   # True: unknown for more than 60 s
        clock.reset(3)               # a known state was seen again
    """

    def __init__(self, grace_s: float) -> None:
        self.grace_s = grace_s
        self._since: dict[int, float] = {}

    def expired(self, trial_index: int, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        since = self._since.setdefault(trial_index, now)
        return now - since > self.grace_s

    def unknown_for(self, trial_index: int, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        return now - self._since.get(trial_index, now)

    def reset(self, trial_index: int) -> None:
        self._since.pop(trial_index, None)
