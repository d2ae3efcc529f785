"""The pack's progress display: one rich progress bar per long step, on stderr.

The rule: long-running work (a SAAS model fit, a benchmark loop) reports
through :func:`progress_task`, never through ``print``. The display is shown
only where someone can see it: when stderr is a terminal, or when the
environment variable ``AX_NAS_PROGRESS`` is ``1``; ``AX_NAS_PROGRESS=0``
silences it everywhere. Everything stays silent (a no-op) otherwise, so logs
and CI output carry no bar noise. Tasks opened while another one runs share
the same live display (one bar per task, removed when it ends). Where stderr
is not a terminal but the display is switched on (``AX_NAS_PROGRESS=1``, e.g.
a log file), each task prints one line when it ends instead of redraws.

Example::

    from ax_nas_plugins.progress import progress_task

    with progress_task("SAAS fit (outcome 1/2)", total=384) as advance:
        for _ in range(3):
            ...            # a chunk of work
            advance(128)
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

_lock = threading.Lock()
_live: Any = None  # the shared rich.progress.Progress while a task is open
_open_tasks = 0
_listeners: list[Callable[[str, str, float, float | None], None]] = []


@contextmanager
def observe(
    listener: Callable[[str, str, float, float | None], None],
) -> Iterator[None]:
    """Send every task's progress to ``listener`` instead of drawing bars.

    ``listener(event, description, completed, total)`` is called with event
    ``"start"``, ``"advance"`` or ``"end"``. While a listener is registered no
    bar is drawn (a command line with its own live display uses this to show
    "SAAS fit (outcome 1/2) 128/384" in its status line). Removed when the
    block ends.
    """
    with _lock:
        _listeners.append(listener)
    try:
        yield
    finally:
        with _lock:
            _listeners.remove(listener)


def _notify(
    event: str, description: str, completed: float, total: float | None
) -> None:
    for listener in list(_listeners):
        # A display must never break the work it shows.
        with contextlib.suppress(Exception):
            listener(event, description, completed, total)


@contextmanager
def _observed_task(
    description: str, total: float | None
) -> Iterator[Callable[[float], None]]:
    done = [0.0]

    def advance(units: float = 1.0) -> None:
        done[0] += units
        _notify("advance", description, done[0], total)

    _notify("start", description, 0.0, total)
    try:
        yield advance
    finally:
        _notify("end", description, done[0], total)


def progress_enabled() -> bool:
    """Whether a progress display is shown now (see the module rule)."""
    flag = os.environ.get("AX_NAS_PROGRESS", "").strip()
    if flag == "0":
        return False
    if flag == "1":
        return True
    return sys.stderr.isatty()


def _start() -> Any:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    console = Console(stderr=True)
    progress = Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        # A terminal shows live bars that vanish when done; a log (not a
        # terminal) gets one line per finished task instead of redraws.
        transient=console.is_terminal,
        disable=not console.is_terminal,
    )
    progress.start()
    return progress


@contextmanager
def progress_task(
    description: str, total: float | None = None, enabled: bool | None = None
) -> Iterator[Callable[[float], None]]:
    """Show one task of ``total`` units; yields ``advance(units)``.

    ``total=None`` shows a spinner without a bar. ``enabled`` overrides
    :func:`progress_enabled` (``False``: yield a no-op). The task is removed
    when the block ends, whether it ended normally or by an exception.

    Args:
        description: What is being done, e.g. ``"SAAS fit (outcome 1/2)"``.
        total: Units of work in the task, or ``None`` if unknown.
        enabled: Force the display on or off.
    """
    global _live, _open_tasks
    if _listeners and enabled is not False:
        with _observed_task(description, total) as advance:
            yield advance
        return
    show = progress_enabled() if enabled is None else enabled
    if not show:
        yield lambda _units=1.0: None
        return
    with _lock:
        if _live is None:
            _live = _start()
        _open_tasks += 1
        progress = _live
    task_id = progress.add_task(description, total=total)
    started = time.perf_counter()
    ok = False
    try:
        yield lambda units=1.0: progress.advance(task_id, units)
        ok = True
    finally:
        with _lock:
            if not progress.console.is_terminal:
                task = progress.tasks[progress.task_ids.index(task_id)]
                done = f"{task.completed:g}/{task.total:g}" if task.total else ""
                progress.console.print(
                    f"{description}: {'done' if ok else 'stopped'} {done} in "
                    f"{time.perf_counter() - started:.1f} s",
                    highlight=False,
                )
            progress.remove_task(task_id)
            _open_tasks -= 1
            if _open_tasks == 0:
                _live.stop()
                _live = None
