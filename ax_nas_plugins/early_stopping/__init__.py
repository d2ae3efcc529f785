"""Early-stopping strategies; ``learning_curve`` is the pack's own.

The strategy class is imported lazily (it imports Ax); the numpy-only rule
(``_engine``, ``_predictor``, ``_rule``) can be used without Ax.

This package shares its name with the public factory
``ax_nas_plugins.early_stopping(plugin, **options)``. Importing a submodule
makes Python set the package as the attribute ``ax_nas_plugins.early_stopping``,
replacing the factory; so the package itself is made callable with the same
signature, and ``anp.early_stopping("learning_curve", ...)`` works either way.
"""

from __future__ import annotations

import sys
import types
from typing import Any

__all__ = ["LearningCurveEarlyStoppingStrategy"]


def __getattr__(name: str) -> Any:
    if name == "LearningCurveEarlyStoppingStrategy":
        from ax_nas_plugins.early_stopping.learning_curve import (
            LearningCurveEarlyStoppingStrategy,
        )

        return LearningCurveEarlyStoppingStrategy
    raise AttributeError(name)


class _CallablePackage(types.ModuleType):
    def __call__(self, plugin: str, /, **options: Any) -> Any:
        """Create the early-stopping strategy plugin named ``plugin``."""
        from ax_nas_plugins.registry import create

        return create("early_stopping", plugin, options)


sys.modules[__name__].__class__ = _CallablePackage
