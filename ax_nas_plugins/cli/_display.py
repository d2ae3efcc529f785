"""What ``ax-nas run`` shows: counts, Pareto set, time, what the optimizer does.

The rule: the run's state lives in one :class:`RunState`, changed only by the
main thread (trial hooks, the orchestrator's idle callback, wrappers around
the generation strategy's ``gen`` and the early-stopping check, the progress
observer). On a terminal a rich ``Live`` redraws it four times a second;
elsewhere (a log, CI) each trial event is printed as one plain line, so the
output stays readable without a terminal. Markup from user text (plugin
names, reasons, paths) is escaped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from ax_nas_plugins.hooks import hookimpl

_COUNTED = ("RUNNING", "COMPLETED", "FAILED", "EARLY_STOPPED", "ABANDONED")


@dataclass
class RunState:
    """The run as the display sees it."""

    name: str
    total: int
    started: float = field(default_factory=time.monotonic)
    counts: dict[str, int] = field(default_factory=dict)
    finished_at_start: int = 0
    pareto: list[dict[str, Any]] = field(default_factory=list)
    objectives: list[str] = field(default_factory=list)
    phase: str = "starting"
    hidden_logs: int = 0

    def finished(self) -> int:
        return sum(
            v
            for k, v in self.counts.items()
            if k not in ("RUNNING", "CANDIDATE", "STAGED")
        )

    def eta(self) -> str:
        done_now = self.finished() - self.finished_at_start
        left = self.total - self.finished()
        if left <= 0:
            return "0 s"
        if done_now <= 0:
            return "estimating"
        per = (time.monotonic() - self.started) / done_now
        return _duration(per * left)


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    return f"{seconds // 60} min {seconds % 60:02d} s"


class Display:
    """Live panel on a terminal, plain lines elsewhere; also the trial-event hook."""

    def __init__(self, console: Console, state: RunState) -> None:
        self.console = console
        self.state = state
        self.live: Live | None = None

    def __enter__(self) -> Display:
        if self.console.is_terminal:
            self.live = Live(
                get_renderable=self.render,
                console=self.console,
                refresh_per_second=4,
                transient=False,
            )
            self.live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.update(self.render(), refresh=True)
            self.live.stop()
            self.live = None

    def line(self, text: str) -> None:
        """One line above the live panel (or on its own where there is none)."""
        self.console.print(text, highlight=False)

    def set_phase(self, phase: str) -> None:
        self.state.phase = phase

    def render(self) -> Any:
        s = self.state
        c = s.counts
        head = Text.assemble(
            (f"{s.name}: ", "bold"),
            f"{s.finished()}/{s.total} done · ",
            (f"running {c.get('RUNNING', 0)}", "cyan"),
            " · ",
            (f"completed {c.get('COMPLETED', 0)}", "green"),
            " · ",
            (f"early-stopped {c.get('EARLY_STOPPED', 0)}", "yellow"),
            " · ",
            (f"failed {c.get('FAILED', 0) + c.get('ABANDONED', 0)}", "red"),
        )
        timing = Text(
            f"elapsed {_duration(time.monotonic() - s.started)} · left about {s.eta()}"
        )
        phase = Text(f"optimizer: {s.phase}", style="dim")
        parts: list[Any] = [head, timing, phase]
        if s.pareto:
            table = Table(title="current Pareto set (observed)", title_justify="left")
            table.add_column("trial")
            for name in s.objectives:
                table.add_column(name)
            for row in s.pareto[:10]:
                table.add_row(
                    str(row["trial_index"]),
                    *[_fmt(row.get(n)) for n in s.objectives],
                )
            parts.append(table)
        return Group(*parts)

    # Trial-event hooks (pluggy); each also prints one line.
    @hookimpl
    def ax_nas_trial_deployed(self, trial_index: int, trial: Any) -> None:
        params = getattr(getattr(trial, "arm", None), "parameters", {}) or {}
        brief = ", ".join(
            f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
            for k, v in params.items()
        )
        self.line(f"trial {trial_index} started: {escape(brief)}")

    @hookimpl
    def ax_nas_trial_completed(self, trial_index: int) -> None:
        self.line(f"trial {trial_index} [green]completed[/]")

    @hookimpl
    def ax_nas_trial_failed(self, trial_index: int, reason: str) -> None:
        first = (reason or "").strip().splitlines()
        self.line(
            f"trial {trial_index} [red]failed[/]: {escape(first[0] if first else '')}"
        )

    @hookimpl
    def ax_nas_trial_early_stopped(self, trial_index: int, reason: str | None) -> None:
        why = f": {escape(reason)}" if reason else ""
        self.line(f"trial {trial_index} [yellow]stopped early[/]{why}")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)
