"""Entry point of the ``saasbo`` preset: importable only with the ``saasbo`` extra.

The rule: ``saasbo`` fits by NUTS by default, which needs JAX and NumPyro, so
its entry point lives here and importing this module raises
:class:`~ax_nas_plugins.generation.saasbo.MissingExtraError` (an
``ImportError`` naming the missing package and ``pip install
'ax-nas-plugins[saasbo]'``) without them. ``ax-nas plugins --check`` then
reports ``saasbo`` broken with that hint, while ``saasbo_fast`` (MAP fit, plain
BoTorch) stays usable. The factory is the one in :mod:`.saasbo`.
"""

from __future__ import annotations

from ax_nas_plugins.generation.saasbo import require_extra, saasbo

require_extra("saasbo")

__all__ = ["saasbo"]
