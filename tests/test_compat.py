"""The dependency internals and extension points ``ax_nas_plugins._compat`` names.

Each section of ``_compat.py`` has its test here; a failure says which
internal or extension point of which dependency changed.
"""

from __future__ import annotations

# --- storage and hooks -------------------------------------------------------


def test_storage_and_hooks_extension_points_still_hold():
    from ax_nas_plugins._compat import storage_extension_points_problems

    problems = storage_extension_points_problems()
    assert not problems, (
        "ax_nas_plugins was written against ax-platform 1.3.1, SQLAlchemy 2.1 and "
        "pluggy 1.6; these extension points changed:\n- " + "\n- ".join(problems)
    )


def test_storage_uses_no_private_attribute_of_ax():
    """storage.py, _bundle.py, _sql_tables.py: no `._name` reach into Ax objects."""
    import ast
    from pathlib import Path

    import ax_nas_plugins

    root = Path(ax_nas_plugins.__file__).parent
    own = {"self", "cls"}
    found = []
    for name in ("storage.py", "_bundle.py", "_sql_tables.py", "hooks/manager.py"):
        tree = ast.parse((root / name).read_text())
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and not (isinstance(node.value, ast.Name) and node.value.id in own)
            ):
                found.append(f"{name}:{node.lineno} .{node.attr}")
    assert not found, f"private attributes reached outside _compat.py: {found}"
