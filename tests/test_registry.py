"""Plugin discovery, errors a user can cause, and laziness."""

from __future__ import annotations

import json

import pytest

import ax_nas_plugins as anp
from ax_nas_plugins import registry


def test_builtins_are_listed_by_kind():
    names = anp.available()
    assert set(names) == set(anp.KINDS)
    assert {"percentile", "threshold"} <= set(names["early_stopping"])
    assert "sobol" in names["generation_strategy"]
    assert "jsonl_event_log" in names["hooks"]
    assert anp.available("early_stopping") == names["early_stopping"]


def test_builtins_come_from_entry_points_of_this_distribution():
    info = anp.info("generation_strategy", "sobol")
    assert info.distribution == "ax-nas-plugins"
    assert info.value == "ax_nas_plugins.generation.sobol:sobol"
    assert info.description().startswith("Quasi-random Sobol search")


def test_unknown_name_lists_installed_and_closest():
    with pytest.raises(anp.UnknownPluginError) as err:
        anp.early_stopping("percentil")
    msg = str(err.value)
    assert "'percentile'" in msg and "threshold" in msg
    assert err.value.closest == "percentile"


def test_unknown_kind_names_allowed_kinds():
    with pytest.raises(ValueError, match="allowed kinds: runner, metric"):
        anp.available("runners")


def test_wrong_option_names_plugin_and_accepted_options():
    with pytest.raises(anp.PluginOptionError) as err:
        anp.early_stopping("percentile", percentile_treshold=40.0)
    msg = str(err.value)
    assert "'percentile'" in msg
    assert "percentile_threshold" in msg and "min_curves" in msg
    assert "did you mean 'percentile_treshold' -> 'percentile_threshold'" in msg


def test_plugin_name_is_positional_only_so_name_can_be_an_option():
    # `name` reaches the plugin, not the registry; sobol has no such option.
    with pytest.raises(anp.PluginOptionError, match="unknown option"):
        anp.generation_strategy("sobol", name="x")


def test_create_real_ax_strategy():
    from ax.early_stopping.strategies import PercentileEarlyStoppingStrategy

    es = anp.early_stopping("percentile", percentile_threshold=25.0, min_curves=3)
    assert isinstance(es, PercentileEarlyStoppingStrategy)
    assert es.percentile_threshold == 25.0


def test_check_reports_every_builtin_ok():
    problems = {k: v for k, v in registry.check().items() if v is not None}
    assert problems == {}


LAZY_CODE = """
import sys, json
import ax_nas_plugins as anp
anp.available()
for kind in anp.KINDS:
    for info in anp.plugin_infos(kind).values():
        info.description()
from ax_nas_plugins.cli.main import app
try:
    app(["plugins", "--json"], standalone_mode=False)
except SystemExit:
    pass
heavy = [m for m in ("torch", "torchx", "botorch", "ax", "gpytorch", "jax")
         if m in sys.modules]
print("HEAVY=" + json.dumps(heavy))
"""


def test_listing_imports_nothing_heavy(py):
    out = py(LAZY_CODE)
    assert out.returncode == 0, out.stderr
    heavy_line = next(ln for ln in out.stdout.splitlines() if ln.startswith("HEAVY="))
    assert json.loads(heavy_line[6:]) == []
    rows = json.loads(out.stdout[: out.stdout.index("HEAVY=")])
    assert {"kind": "generation_strategy", "name": "sobol"}.items() <= rows[
        [r["name"] for r in rows].index("sobol")
    ].items()
