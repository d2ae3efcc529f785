"""The generation presets' storage declaration, found like any third party's.

Registered under the ``ax_nas_plugins.storage`` entry-point group (see
:class:`ax_nas_plugins.storage.StorageExtension`): the BoTorch model and
input-transform classes the presets use are registered with Ax's stores, and
the presets' no-silent-Sobol-fallback rule, which Ax does not store, is
applied again to every strategy loaded through the pack's bundle.
"""

from __future__ import annotations

from ax_nas_plugins.generation import enforce_rules, register_storage_classes
from ax_nas_plugins.storage import StorageExtension


def storage() -> StorageExtension:
    """What the generation presets add to Ax's stores."""
    return StorageExtension(
        register=register_storage_classes, strategy_rules=(enforce_rules,)
    )
