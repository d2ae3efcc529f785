"""Generation-strategy presets: factories returning an Ax ``GenerationStrategy``.

One module per preset (``sobol``, ``gp_moo``, ``saasbo``, ``saasbo_fast``,
``auto``), each registered by entry point in ``ax_nas_plugins.generation_strategies``;
``_common`` holds the rules they share (see its docstring). Importing this
package imports nothing heavy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ax.generation_strategy.generation_strategy import GenerationStrategy

__all__ = ["enforce_rules", "register_storage_classes"]


def register_storage_classes() -> None:
    """Register the model and transform classes the presets use with Ax's stores.

    Idempotent; :func:`ax_nas_plugins.storage.registry_bundle` calls it, so a
    strategy saved in one process decodes in another.
    """
    from ax_nas_plugins.generation import (
        _acquisition,
        _known,
        _log_costs,
        _map_saas,
        _onehot,
        _saas,
    )

    _known.register_for_storage()
    _log_costs.register_for_storage()
    _onehot.register_for_storage()
    _saas.register_for_storage()
    _map_saas.register_for_storage()
    _acquisition.register_for_storage()


def enforce_rules(strategy: GenerationStrategy) -> GenerationStrategy:
    """Re-apply the pack's rules to a loaded strategy (no silent Sobol fallback)."""
    from ax_nas_plugins.generation._common import enforce_rules as _enforce

    return _enforce(strategy)
