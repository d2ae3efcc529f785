"""The NAS demo: the bundled config ``config/demo.yaml``, run like any other config.

The rule: the demo's defaults live in one place, ``ax_nas_plugins/config/demo.yaml``
(the blog post's search: two hidden widths, learning rate, dropout, batch size
and epochs; maximize ``val_acc``, minimize ``num_params``; ``torchx_local``,
``tensorboard`` + ``num_params``, ``learning_curve``, ``gp_moo``). The
``ax-nas demo`` options only override fields of that file
(:func:`demo_config`), and the run goes through the same path as
``ax-nas run`` (``ax_nas_plugins.cli._session``).
"""

from __future__ import annotations

from typing import Any

import yaml

from ax_nas_plugins.config import DEMO_CONFIG, ConfigError, RunConfig, load_config
from ax_nas_plugins.errors import AxNasError


def demo_defaults() -> dict[str, Any]:
    """The demo's defaults as ``ax-nas demo`` options, read from ``demo.yaml``."""
    data = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    epochs = next(p for p in data["parameters"] if p["name"] == "epochs")
    return {
        "trials": data["budget"]["max_trials"],
        "parallel": data["budget"]["parallelism"],
        "max_epochs": int(epochs["bounds"][1]),
        "generation": data["generation"]["plugin"],
        "early_stopping": (data.get("early_stopping") or {}).get("plugin", "none"),
        "seed": data["generation"].get("options", {}).get("seed", 0),
    }


#: Config path -> the ``ax-nas demo`` option that sets it (for messages).
_OPTION_OF = {
    "budget.max_trials": "--trials",
    "budget.parallelism": "--parallel",
    "generation.plugin": "--generation",
    "early_stopping.plugin": "--early-stopping",
}


def demo_config(
    trials: int | None = None,
    parallel: int | None = None,
    max_epochs: int | None = None,
    generation: str | None = None,
    early_stopping: str | None = None,
    seed: int | None = None,
) -> RunConfig:
    """``demo.yaml`` with the given options applied (None keeps the file's value).

    ``early_stopping="none"`` turns early stopping off. A bad value raises
    :class:`AxNasError` naming the option.
    """
    data = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    if trials is not None:
        data["budget"]["max_trials"] = trials
    if parallel is not None:
        data["budget"]["parallelism"] = parallel
    if max_epochs is not None:
        if max_epochs < 3:
            raise AxNasError(
                f"--max-epochs: must be 3 or more (epochs are searched from 2), "
                f"got {max_epochs}."
            )
        for p in data["parameters"]:
            if p["name"] == "epochs":
                p["bounds"] = [2, max_epochs]
    if generation is not None:
        data["generation"] = {"plugin": generation, "options": {}}
    if seed is not None:
        data["generation"].setdefault("options", {})["seed"] = seed
    elif generation is not None:
        data["generation"]["options"]["seed"] = demo_defaults()["seed"]
    if early_stopping is not None:
        if early_stopping.lower() == "none":
            data["early_stopping"] = None
        else:
            data["early_stopping"] = {"plugin": early_stopping}
    try:
        return load_config(data)
    except ConfigError as exc:
        raise AxNasError(_as_options(exc)) from exc


def _as_options(exc: ConfigError) -> str:
    parts = []
    for path, msg in exc.problems:
        option = _OPTION_OF.get(path, path)
        parts.append(f"{option}: {msg}")
    return "; ".join(parts)


def options_error(exc: ConfigError) -> str:
    """A :class:`ConfigError` of the demo config, told as ``ax-nas demo`` options."""
    return _as_options(exc)
