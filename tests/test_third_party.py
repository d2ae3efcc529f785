"""A real third-party distribution, built and pip-installed in the test, adds plugins.

It brings a runner, a metric, a hook plugin and a broken runner (its module
raises on import). Each check runs in a fresh interpreter whose ``sys.path``
holds the installed target, as a user's environment would.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
TOY_SRC = HERE / "thirdparty" / "toy_nas_plugin"


@pytest.fixture(scope="module")
def toy_site(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("toy_site")
    build_dir = tmp_path_factory.mktemp("toy_build")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(TOY_SRC),
        ],
        check=True,
        cwd=build_dir,
        capture_output=True,
    )
    assert any(p.name.startswith("toy_nas_plugin-1.2.3") for p in target.iterdir())
    return target


def _run(py, site: Path, code: str, **env):
    out = py(code, env={"PYTHONPATH": str(site), **env})
    assert out.returncode == 0, out.stdout + out.stderr
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT=")][-1]
    return json.loads(line[len("RESULT=") :])


def test_third_party_plugins_are_found_by_name(py, toy_site):
    res = _run(
        py,
        toy_site,
        """
import json, sys
import ax_nas_plugins as anp
names = anp.available()
info = anp.info("runner", "toy_runner")
print("RESULT=" + json.dumps({
    "names": names, "dist": info.distribution, "version": info.version,
    "heavy": [m for m in ("torch", "ax", "botorch", "torchx") if m in sys.modules],
}))
""",
    )
    assert {"toy_runner", "broken_runner"} <= set(res["names"]["runner"])
    assert "toy_metric" in res["names"]["metric"]
    assert "toy_hooks" in res["names"]["hooks"]
    assert res["dist"] == "toy-nas-plugin" and res["version"] == "1.2.3"
    assert res["heavy"] == []


def test_broken_plugin_is_reported_and_hides_nothing(py, toy_site):
    res = _run(
        py,
        toy_site,
        """
import json, warnings
import ax_nas_plugins as anp
err = None
try:
    anp.runner("broken_runner")
except anp.PluginLoadError as e:
    err = {"msg": str(e), "dist": e.distribution, "ep": e.entry_point}
runner = anp.runner("toy_runner", queue="gpu")
metric = anp.metric("toy_metric", name="size", scale=2.0)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    bundle = anp.registry_bundle()
checked = anp.check("runner")
print("RESULT=" + json.dumps({
    "err": err,
    "runner": type(runner).__name__, "queue": runner.queue,
    "metric": [type(metric).__name__, metric.name, metric.scale],
    "bundle_runners": sorted(c.__name__ for c in bundle.runner_registry),
    "bundle_metrics": sorted(c.__name__ for c in bundle.metric_registry),
    "warned": [str(w.message) for w in caught],
    "checked": {f"{k}:{n}": v for (k, n), v in checked.items()},
}))
""",
    )
    err = res["err"]
    assert err is not None
    assert err["dist"] == "toy-nas-plugin"
    assert err["ep"] == "toy_nas_plugin.broken:BrokenRunner"
    assert "not-installed-anywhere" in err["msg"]
    assert res["runner"] == "ToyRunner" and res["queue"] == "gpu"
    assert res["metric"] == ["ToyMetric", "size", 2.0]
    assert "ToyRunner" in res["bundle_runners"]
    assert "ToyMetric" in res["bundle_metrics"]
    assert any("broken_runner" in w for w in res["warned"])
    assert res["checked"]["runner:toy_runner"] is None
    assert "not-installed-anywhere" in res["checked"]["runner:broken_runner"]


def test_cli_check_reports_broken_plugin_with_exit_code(toy_site):
    import os

    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "ax_nas_plugins.cli.main",
            "plugins",
            "--check",
            "--json",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(toy_site)},
        check=False,
    )
    assert out.returncode == 1
    rows = {r["name"]: r for r in json.loads(out.stdout[out.stdout.index("[") :])}
    assert rows["toy_runner"]["error"] is None
    assert "toy-nas-plugin" in rows["broken_runner"]["error"]


ROUND_TRIP = """
import json, sys
import ax_nas_plugins as anp
from ax_nas_plugins import storage
from ax.core.experiment import Experiment
from ax.core.objective import Objective
from ax.core.optimization_config import OptimizationConfig
from ax.core.parameter import ParameterType, RangeParameter
from ax.core.search_space import SearchSpace
from ax.core.arm import Arm

loc = sys.argv[1] if len(sys.argv) > 1 else None
mode = "{mode}"
path = "{path}"
bundle = anp.registry_bundle()
ids = {{c.__name__: i for c, i in bundle.runner_registry.items()}}
ids.update({{c.__name__: i for c, i in bundle.metric_registry.items()}})
if mode == "save":
    metric = anp.metric("toy_metric", name="size", scale=3.0, lower_is_better=True)
    exp = Experiment(
        name="toy_exp",
        search_space=SearchSpace([RangeParameter("x", ParameterType.INT, 1, 9)]),
        optimization_config=OptimizationConfig(
            Objective("-size", metric_name_to_signature={{"size": metric.signature}})
        ),
        metrics=[metric],
        runner=anp.runner("toy_runner", queue="q7", retries=2),
    )
    trial = exp.new_trial().add_arm(Arm({{"x": 4}}))
    trial.run()
    trial.mark_completed()
    exp.attach_data(exp.fetch_data())
    storage.save_experiment(exp, path)
    print("RESULT=" + json.dumps({{"ids": ids}}))
else:
    exp, _ = storage.load_experiment(path, name="toy_exp")
    metric = exp.metrics["size"]
    df = exp.lookup_data().df
    print("RESULT=" + json.dumps({{
        "ids": ids,
        "runner": [type(exp.runner).__name__, exp.runner.queue, exp.runner.retries],
        "metric": [type(metric).__name__, metric.name, metric.scale],
        "run_metadata": exp.trials[0].run_metadata,
        "mean": float(df["mean"].iloc[0]),
    }}))
"""


@pytest.mark.parametrize("suffix", [".json", ".sqlite"])
def test_experiment_with_third_party_plugins_round_trips(
    py, toy_site, tmp_path, suffix
):
    path = tmp_path / f"exp{suffix}"
    hook_file = tmp_path / "hook.jsonl"
    saved = _run(
        py,
        toy_site,
        ROUND_TRIP.format(mode="save", path=path),
        TOY_HOOK_FILE=str(hook_file),
    )
    # A second, fresh process decodes it: ids must not depend on the process.
    loaded = _run(py, toy_site, ROUND_TRIP.format(mode="load", path=path))
    assert saved["ids"] == loaded["ids"]
    assert loaded["runner"] == ["ToyRunner", "q7", 2]
    assert loaded["metric"] == ["ToyMetric", "size", 3.0]
    assert loaded["run_metadata"]["job_id"] == "job-0"
    assert loaded["mean"] == 12.0
    # The third party's hook plugin saw the save.
    assert json.loads(hook_file.read_text().splitlines()[0]) == {"saved": "toy_exp"}


STORAGE_EXTENSION = """
import json, sys, warnings
import ax_nas_plugins as anp
from ax_nas_plugins import storage
from ax.core.experiment import Experiment
from ax.core.objective import Objective
from ax.core.optimization_config import OptimizationConfig
from ax.core.parameter import ParameterType, RangeParameter
from ax.core.search_space import SearchSpace

mode, db, js = "{mode}", "{db}", "{js}"
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    bundle = anp.registry_bundle()
from toy_nas_plugin import presets

def fallbacks(gs):
    return {{n: len(node.fallback_specs) for n, node in gs.nodes_by_name.items()}}

if mode == "save":
    metric = anp.metric("toy_metric", name="size", lower_is_better=True)
    exp = Experiment(
        name="toy_gs",
        search_space=SearchSpace([RangeParameter("x", ParameterType.INT, 1, 9)]),
        optimization_config=OptimizationConfig(
            Objective("-size", metric_name_to_signature={{"size": metric.signature}})
        ),
        metrics=[metric],
        runner=anp.runner("toy_runner"),
    )
    gs = anp.generation_strategy("toy_sobol", seed=3)
    exp.new_trial(gs.gen_single_trial(experiment=exp))
    storage.save_experiment(exp, db, gs)
    storage.save_experiment(exp, js, gs)
    budget = storage.to_json(presets.ToyBudget(epochs=3, unit="step"))
    print("RESULT=" + json.dumps({{"fallbacks": fallbacks(gs), "budget": budget}}))
else:
    from ax.orchestration.orchestrator import Orchestrator, OrchestratorOptions
    from ax.storage.sqa_store.load import load_generation_strategy_by_experiment_name

    _, from_sql = storage.load_experiment(db, name="toy_gs")
    _, from_json = storage.load_experiment(js)
    orch = Orchestrator.from_stored_experiment(
        "toy_gs", options=OrchestratorOptions(), db_settings=anp.db_settings(db)
    )
    # Ax's own loader without the bundle's decoder: Ax's default table is back.
    plain = load_generation_strategy_by_experiment_name(
        "toy_gs", config=bundle.sqa_config
    )
    budget = storage.from_json(json.loads(sys.argv[1]))
    print("RESULT=" + json.dumps({{
        "sql": fallbacks(from_sql), "json": fallbacks(from_json),
        "orchestrator": fallbacks(orch.generation_strategy), "plain": fallbacks(plain),
        "budget": [type(budget).__name__, budget.epochs, budget.unit],
        "registered": presets.REGISTERED,
        "storage_names": anp.available("storage"),
        "warned": [str(w.message) for w in caught],
    }}))
"""


@pytest.mark.slow  # two fresh interpreters with Ax and an Orchestrator
def test_third_party_storage_extension_is_used_like_the_packs_own(
    py, toy_site, tmp_path
):
    """A third party declares codecs, a register function and a strategy rule."""
    paths = {"db": tmp_path / "toy.db", "js": tmp_path / "toy.json"}
    saved = _run(py, toy_site, STORAGE_EXTENSION.format(mode="save", **paths))
    assert saved["fallbacks"] == {"toy:sobol": 0}
    assert saved["budget"] == {"__type": "ToyBudget", "epochs": 3, "unit": "step"}
    code = STORAGE_EXTENSION.format(mode="load", **paths)
    out = py(
        f"import sys; sys.argv[1:] = [{json.dumps(json.dumps(saved['budget']))}]\n"
        + code,
        env={"PYTHONPATH": str(toy_site)},
    )
    assert out.returncode == 0, out.stdout + out.stderr
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT=")][-1]
    loaded = json.loads(line[len("RESULT=") :])
    assert loaded["sql"] == loaded["json"] == loaded["orchestrator"] == {"toy:sobol": 0}
    assert loaded["plain"]["toy:sobol"] > 0  # the rule, not Ax, removed it
    assert loaded["budget"] == ["ToyBudget", 3, "step"]
    assert loaded["registered"] and set(loaded["registered"]) == {"toy"}
    assert {"toy_storage", "broken_storage", "generation_presets"} <= set(
        loaded["storage_names"]
    )
    broken = [w for w in loaded["warned"] if "broken_storage" in w]
    assert broken and "toy-nas-plugin" in broken[0]
    assert "toy storage declaration bug" in broken[0]
