"""The CLI log scope: Ax and BoTorch records go to the file, not the terminal."""

from __future__ import annotations

import logging

import pytest

from ax_nas_plugins.cli._logs import scoped_logs


@pytest.mark.parametrize("name", ["ax.orchestration.orchestrator", "botorch"])
def test_info_goes_to_the_file_only(tmp_path, capfd, name):
    import ax.utils.common.logger  # noqa: F401  (Ax's stderr handler)
    import botorch  # noqa: F401  (BoTorch's stderr handler)

    log = tmp_path / "ax-nas.log"
    before = logging.getLogger(name).level
    with scoped_logs(log) as terminal:
        logging.getLogger(name).info("fitting, quietly")
        logging.getLogger(name).error("a real error")
    err = capfd.readouterr().err
    assert "fitting, quietly" not in err
    assert "a real error" in err
    text = log.read_text()
    assert "fitting, quietly" in text and "a real error" in text
    assert terminal.hidden >= 1
    assert logging.getLogger(name).level == before  # restored


def test_verbose_shows_everything(tmp_path, capfd):
    import ax.utils.common.logger  # noqa: F401

    with scoped_logs(tmp_path / "x.log", verbose=True):
        logging.getLogger("ax.core").warning("shown when verbose")
    assert "shown when verbose" in capfd.readouterr().err
