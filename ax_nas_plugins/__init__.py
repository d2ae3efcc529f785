"""ax-nas-plugins: runners, metrics, early stopping and generation presets for Ax.

Every plugin is found by entry-point name. Importing this package, listing
plugins and reading their metadata import neither torch, TorchX, BoTorch nor
Ax; a plugin's own imports happen the first time it is created.

Example::

    import ax_nas_plugins as anp

    anp.available()                       # {"runner": [...], "metric": [...], ...}
    gs = anp.generation_strategy("sobol", seed=0)
    es = anp.early_stopping("percentile", percentile_threshold=50.0)
    bundle = anp.registry_bundle()        # for Ax's JSON / SQL stores
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ax_nas_plugins._version import __version__
from ax_nas_plugins.errors import (
    AxNasError,
    PluginLoadError,
    PluginOptionError,
    StorageRegistrationError,
    UnknownPluginError,
)
from ax_nas_plugins.registry import KINDS, available, check, create, info, plugin_infos

if TYPE_CHECKING:
    from ax.core.metric import Metric
    from ax.core.runner import Runner
    from ax.early_stopping.strategies.base import BaseEarlyStoppingStrategy
    from ax.generation_strategy.generation_strategy import GenerationStrategy
    from ax.storage.registry_bundle import RegistryBundle
    from ax.storage.sqa_store.structs import DBSettings

__all__ = [
    "KINDS",
    "AxNasError",
    "PluginLoadError",
    "PluginOptionError",
    "StorageRegistrationError",
    "UnknownPluginError",
    "__version__",
    "available",
    "check",
    "db_settings",
    "early_stopping",
    "generation_strategy",
    "info",
    "metric",
    "plugin_infos",
    "registry_bundle",
    "runner",
]


def runner(plugin: str, /, **options: Any) -> Runner:
    """Create the runner plugin named ``plugin`` with keyword ``options``."""
    return create("runner", plugin, options)


def metric(plugin: str, /, **options: Any) -> Metric:
    """Create the metric plugin named ``plugin`` (``name=`` is the Ax metric name)."""
    return create("metric", plugin, options)


def early_stopping(plugin: str, /, **options: Any) -> BaseEarlyStoppingStrategy:
    """Create the early-stopping strategy plugin named ``plugin``."""
    return create("early_stopping", plugin, options)


def generation_strategy(plugin: str, /, **options: Any) -> GenerationStrategy:
    """Create the generation-strategy preset named ``plugin``."""
    return create("generation_strategy", plugin, options)


def registry_bundle() -> RegistryBundle:
    """Ax ``RegistryBundle`` holding every installed runner and metric class."""
    from ax_nas_plugins.storage import registry_bundle as _bundle

    return _bundle()


def db_settings(location: str) -> DBSettings:
    """Ax ``DBSettings`` (SQLAlchemy URL or SQLite path) that know every plugin."""
    from ax_nas_plugins.storage import db_settings as _db_settings

    return _db_settings(location)
