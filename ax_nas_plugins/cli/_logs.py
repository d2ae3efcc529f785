"""Where the command line's logs go: the run folder's log file; the terminal rarely.

The rule (CLI process only, set up and undone by :func:`scoped_logs`; library
code never changes logging): every record of Ax, BoTorch and this pack at
INFO or above, every Python warning, and every traceback go to
``<run folder>/ax-nas.log``. The terminal shows Ax's records only at ERROR
and above, unless ``verbose`` (then everything, as Ax
prints it). ``ResourceWarning`` about trainer processes that outlive the
command (they do, on purpose) is dropped.
"""

from __future__ import annotations

import importlib
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: Loggers whose records the run's log file keeps.
LOGGERS = (
    "ax",
    "botorch",
    "ax_nas_plugins",
    "linear_operator",
    "torchx",
    "py.warnings",
)


class _TerminalFilter(logging.Filter):
    """Let through ERROR and above; count the records held back."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.ERROR:
            self.hidden += 1
            return False
        return True


@contextmanager
def scoped_logs(
    log_file: Path | None, verbose: bool = False
) -> Iterator[_TerminalFilter]:
    """Send logs to ``log_file`` and keep the terminal quiet for the block."""
    if not verbose:
        # Importing Ax logs at INFO (e.g. "Ax SQL storage initialized") before
        # its handler exists to be filtered: hold INFO back during the import.
        previous = logging.root.manager.disable
        logging.disable(logging.INFO)
        try:
            importlib.import_module("ax")
        finally:
            logging.disable(previous)
    # Ax's own stderr handler is made when this module is first imported.
    importlib.import_module("ax.utils.common.logger")

    handler = None
    if log_file is not None:
        handler = logging.FileHandler(log_file, encoding="utf-8")
        handler.setLevel(logging.INFO)
        handler.setFormatter(
            logging.Formatter("[%(levelname)s %(asctime)s] %(name)s: %(message)s")
        )
    terminal = _TerminalFilter()
    # Ax and BoTorch each print through their own stderr handler.
    streams = [
        h
        for name in LOGGERS
        for h in logging.getLogger(name).handlers
        if isinstance(h, logging.StreamHandler)
        and not isinstance(h, logging.FileHandler)
    ]
    saved = {}
    for name in LOGGERS:
        logger = logging.getLogger(name)
        saved[name] = (logger.level, logger.propagate)
        if handler is not None:
            logger.addHandler(handler)
        if logger.level == logging.NOTSET or logger.level > logging.INFO:
            logger.setLevel(logging.INFO)
        if name == "py.warnings":
            logger.propagate = False
    if not verbose:
        for h in streams:
            h.addFilter(terminal)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        logging.captureWarnings(True)
        try:
            yield terminal
        finally:
            logging.captureWarnings(False)
            for h in streams:
                h.removeFilter(terminal)
            for name, (level, propagate) in saved.items():
                logger = logging.getLogger(name)
                if handler is not None:
                    logger.removeHandler(handler)
                logger.setLevel(level)
                logger.propagate = propagate
            if handler is not None:
                handler.close()
