"""Run configuration: one YAML file -> validated models -> Ax objects.

``load_config`` parses and checks a file or dict, ``build`` makes the Ax
``Experiment``, ``GenerationStrategy`` and ``OrchestratorOptions`` in memory
(nothing written), for ``ax-nas run`` or for the user's own ``Orchestrator``
or ``Client`` (docs/pipelines.md).
"""

from __future__ import annotations

from pathlib import Path

from ax_nas_plugins.config.build import (
    BuiltRun,
    build,
    load_config,
    orchestrator_options,
    storage_location,
)
from ax_nas_plugins.config.errors import ConfigError
from ax_nas_plugins.config.models import RunConfig

#: The bundled demo config (the blog post's search).
DEMO_CONFIG = Path(__file__).with_name("demo.yaml")

__all__ = [
    "DEMO_CONFIG",
    "BuiltRun",
    "ConfigError",
    "RunConfig",
    "build",
    "load_config",
    "orchestrator_options",
    "storage_location",
]
