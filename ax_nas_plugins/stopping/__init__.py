"""Early-stopping strategies; ``learning_curve`` is the pack's own.

The strategy class is imported lazily (it imports Ax); the numpy-only rule
(``_engine``, ``_predictor``, ``_rule``) can be used without Ax.

The package is called ``stopping`` so that it never shadows the public factory
``ax_nas_plugins.early_stopping(plugin, **options)``; the entry-point group
stays ``ax_nas_plugins.early_stopping`` and the stored class names are
unchanged.
"""

from __future__ import annotations

from typing import Any

__all__ = ["LearningCurveEarlyStoppingStrategy"]


def __getattr__(name: str) -> Any:
    if name == "LearningCurveEarlyStoppingStrategy":
        from ax_nas_plugins.stopping.learning_curve import (
            LearningCurveEarlyStoppingStrategy,
        )

        return LearningCurveEarlyStoppingStrategy
    raise AttributeError(name)
