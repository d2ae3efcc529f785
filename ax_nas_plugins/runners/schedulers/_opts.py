"""Scheduler options shared by the pack's TorchX schedulers.

The rule: an option is declared once, here or in its scheduler's
``_run_opts``; the scheduler's ``run_opts()`` is the one source of truth
for what ``cfg`` accepts (names, types, defaults), and the runner presets
read it from there. Numeric bounds that TorchX's ``runopts`` cannot express
are in :data:`LIMITS`, checked by the runner once, at construction.
"""

from __future__ import annotations

from torchx.specs.api import runopts

#: Seconds between SIGTERM and SIGKILL when a job is cancelled.
KILL_GRACE_S = 5.0

#: Inclusive numeric bounds (low, high) of options; None is unbounded.
LIMITS: dict[str, tuple[float | None, float | None]] = {"kill_grace_s": (0.0, None)}


def add_kill_grace_s(opts: runopts) -> None:
    """Declare ``kill_grace_s`` (float >= 0, default 5) on ``opts``."""
    opts.add(
        "kill_grace_s",
        type_=float,
        default=KILL_GRACE_S,
        help="seconds between SIGTERM and SIGKILL when a job is cancelled (>= 0)",
    )
