"""The CLI log scope: Ax and BoTorch records go to the file, not the terminal."""

from __future__ import annotations

import io
import logging

import pytest

from ax_nas_plugins.cli._logs import scoped_logs


def _logger(name: str) -> logging.Logger:
    """A logger as the library makes it (Ax's carry the `output_name` filter)."""
    if name.startswith("ax"):
        from ax.utils.common.logger import get_logger

        return get_logger(name)
    return logging.getLogger(name)


def _terminal_handlers(name: str) -> list[logging.StreamHandler]:
    root = name.split(".")[0]
    return [
        h
        for h in logging.getLogger(root).handlers
        if isinstance(h, logging.StreamHandler)
        and not isinstance(h, logging.FileHandler)
    ]


def _swap_streams(handlers, new):
    """Point each handler at ``new`` (one stream or a list); return the old ones.

    ``StreamHandler.stream`` is set directly, not through ``setStream``: that
    flushes the old stream, which may be a CliRunner capture already closed
    when an earlier in-process CLI test first imported Ax.
    """
    old = [h.stream for h in handlers]
    targets = new if isinstance(new, list) else [new] * len(handlers)
    for h, stream in zip(handlers, targets, strict=True):
        h.stream = stream
    return old


@pytest.mark.parametrize("name", ["ax.orchestration.orchestrator", "botorch"])
def test_info_goes_to_the_file_only(tmp_path, name):
    import ax.utils.common.logger  # noqa: F401  (Ax's stderr handler)
    import botorch  # noqa: F401  (BoTorch's stderr handler)

    # The terminal is whatever stream the library's own handler writes to.
    terminal = io.StringIO()
    handlers = _terminal_handlers(name)
    assert handlers, f"{name} has no stderr handler of its own any more"
    streams = _swap_streams(handlers, terminal)
    log = tmp_path / "ax-nas.log"
    before = _logger(name).level
    try:
        with scoped_logs(log) as hidden:
            _logger(name).info("fitting, quietly")
            _logger(name).error("a real error")
    finally:
        _swap_streams(handlers, streams)
    shown = terminal.getvalue()
    assert "fitting, quietly" not in shown
    assert "a real error" in shown
    text = log.read_text()
    assert "fitting, quietly" in text and "a real error" in text
    assert hidden.hidden >= 1
    assert _logger(name).level == before  # restored


def test_verbose_shows_everything(tmp_path):
    import ax.utils.common.logger  # noqa: F401

    terminal = io.StringIO()
    handlers = _terminal_handlers("ax")
    streams = _swap_streams(handlers, terminal)
    try:
        with scoped_logs(tmp_path / "x.log", verbose=True):
            _logger("ax.core.anything").warning("shown when verbose")
    finally:
        _swap_streams(handlers, streams)
    assert "shown when verbose" in terminal.getvalue()
