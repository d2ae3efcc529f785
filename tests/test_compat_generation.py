"""The generation section of ``ax_nas_plugins._compat``: the private code it reaches.

Each test fails with a message naming the internal that moved, so that an
upgrade of jax says what to fix instead of silently dropping a behaviour.
"""

from __future__ import annotations

import pytest

pytest.importorskip("jax", reason="the saasbo extra (jax) is not installed")


def test_jaxlib_still_has_the_xla_log_level_setter():
    from ax_nas_plugins import _compat

    assert _compat.set_xla_log_level(1), (
        "jax._src.lib.utils.absl_set_min_log_level is gone from this jaxlib: "
        "update ax_nas_plugins._compat.set_xla_log_level (SAAS fits with "
        "jax_cache_dir will log XLA's spurious 'machine type' errors meanwhile)."
    )


def test_quiet_xla_log_sets_fatal_only_and_restores_the_start_level(monkeypatch):
    from jax._src.lib import utils as jax_utils

    from ax_nas_plugins import _compat

    calls: list[int] = []
    real = jax_utils.absl_set_min_log_level
    monkeypatch.setattr(
        jax_utils,
        "absl_set_min_log_level",
        lambda level: (calls.append(level), real(level)),
    )
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    with _compat.quiet_xla_log():
        assert calls == [3]
    assert calls == [3, 2]
