"""Storage ids and the registry bundle."""

from __future__ import annotations

import pytest

from ax_nas_plugins import storage
from ax_nas_plugins.errors import StorageRegistrationError


def test_storage_id_is_a_stable_digest_of_the_qualname():
    class Alpha:
        pass

    # A SHA-256 digest of the qualname, not Python's salted hash(): any class
    # with this qualname, in any process, gets the same id.
    assert storage.storage_id(Alpha) == storage.storage_id(
        type("Alpha", (), {"__qualname__": Alpha.__qualname__})
    )
    first = storage.storage_id(Alpha)
    assert 10**6 <= first < 2**31
    assert (
        first
        == storage._ID_FLOOR
        + int.from_bytes(
            __import__("hashlib").sha256(Alpha.__qualname__.encode()).digest()[:8],
            "big",
        )
        % storage._ID_SPAN
    )


def test_pinned_id_wins():
    class Pinned:
        ax_nas_storage_id = 4242424

    assert storage.storage_id(Pinned) == 4242424


def test_colliding_ids_and_names_are_refused():
    from ax.core.metric import Metric

    class A(Metric):
        ax_nas_storage_id = 5555555

    class B(Metric):
        ax_nas_storage_id = 5555555

    with pytest.raises(StorageRegistrationError, match="same storage id 5555555"):
        storage._assign_ids({"a": A, "b": B}, {}, "metric")

    Twin = type("A", (Metric,), {"__module__": "elsewhere"})
    with pytest.raises(StorageRegistrationError, match="share the name 'A'"):
        storage._assign_ids({"a": A, "twin": Twin}, {}, "metric")


def test_core_ax_ids_are_never_reused():
    from ax.core.metric import Metric
    from ax.storage.metric_registry import CORE_METRIC_REGISTRY

    class Clash(Metric):
        ax_nas_storage_id = CORE_METRIC_REGISTRY[Metric]

    with pytest.raises(StorageRegistrationError, match="same storage id"):
        storage._assign_ids({"clash": Clash}, dict(CORE_METRIC_REGISTRY), "metric")


def test_load_json_names_the_unreadable_file(tmp_path):
    bad = tmp_path / "broken.json"
    bad.write_text("{not json")
    with pytest.raises(Exception, match=r"broken\.json"):
        storage.load_experiment(bad)


def test_sql_load_needs_a_name(tmp_path):
    with pytest.raises(Exception, match="needs the experiment name"):
        storage.load_experiment(tmp_path / "x.db")


# --- storage extensions: one public way for every plugin ---------------------


def test_the_packs_presets_declare_their_storage_by_entry_point():
    import ast
    from pathlib import Path

    import ax_nas_plugins as anp
    from ax_nas_plugins.generation import enforce_rules

    info = anp.info("storage", "generation_presets")
    assert info.value == "ax_nas_plugins.generation._storage:storage"
    assert info.distribution == "ax-nas-plugins"
    assert enforce_rules in storage.registry_bundle().strategy_rules
    # No privileged path: storage.py itself never imports the generation package.
    tree = ast.parse(Path(storage.__file__).read_text())
    imported = {
        node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
    } | {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    assert not any(m and m.startswith("ax_nas_plugins.generation") for m in imported)


class _Tag:
    def __init__(self, value: int) -> None:
        self.value = value


def _with_extension(monkeypatch, ext):
    real = storage.storage_extensions

    monkeypatch.setattr(
        storage, "storage_extensions", lambda: {**real(), "test_ext": ext}
    )


def test_extension_codecs_and_rules_reach_the_bundle(monkeypatch):
    import ax_nas_plugins as anp

    seen = []
    ext = storage.StorageExtension(
        json_encoders={_Tag: lambda t: {"__type": "_Tag", "value": t.value}},
        json_decoders={"_Tag": _Tag},
        strategy_rules=(seen.append,),
    )
    _with_extension(monkeypatch, ext)
    bundle = storage.registry_bundle()
    back = storage.from_json(storage.to_json(_Tag(5), bundle), bundle)
    assert isinstance(back, _Tag) and back.value == 5
    gs = anp.generation_strategy("sobol", seed=0)
    loaded = storage.from_json(storage.to_json(gs, bundle), bundle)
    assert seen == [loaded]
    assert bundle.decoder.strategy_rules == bundle.strategy_rules
    assert seen.append in bundle.strategy_rules


def test_extension_json_name_clash_is_refused(monkeypatch):
    from ax.core.metric import Metric

    clash = storage.StorageExtension(json_decoders={"Metric": _Tag})
    _with_extension(monkeypatch, clash)
    with pytest.raises(
        StorageRegistrationError,
        match="storage extension 'test_ext': the JSON name 'Metric'",
    ):
        storage.registry_bundle()
    assert Metric  # Ax's own Metric keeps its name


# --- PostgreSQL DDL fix: scoped to the pack's own engine ---------------------


def _ddl(dialect, table) -> str:
    from sqlalchemy.schema import CreateTable

    return str(CreateTable(table).compile(dialect=dialect))


def test_postgresql_text_fix_touches_only_the_engine_it_is_given():
    from ax.storage.sqa_store.sqa_classes import SQAGeneratorRun
    from sqlalchemy import Column, MetaData, String, Table, Text, create_engine
    from sqlalchemy.dialects import postgresql

    from ax_nas_plugins._sql_tables import use_postgresql_text_types

    url = "postgresql+psycopg://nobody@127.0.0.1:9/none"  # never connected to
    ours = use_postgresql_text_types(create_engine(url))
    other = create_engine(url)
    unrelated = Table(
        "unrelated",
        MetaData(),
        Column("body", Text(1000)),
        Column("blob", String(2**32 - 1)),
        Column("name", String(20)),
    )
    fixed = _ddl(ours.dialect, unrelated)
    assert "body TEXT," in fixed and "blob TEXT," in fixed
    assert "name VARCHAR(20)" in fixed
    ax_table = _ddl(ours.dialect, SQAGeneratorRun.__table__)
    assert "TEXT(" not in ax_table and "VARCHAR(4294967295)" not in ax_table
    for dialect in (other.dialect, postgresql.dialect()):
        plain = _ddl(dialect, unrelated)
        assert "TEXT(1000)" in plain and "VARCHAR(4294967295)" in plain
    sqlite = create_engine("sqlite://")
    assert use_postgresql_text_types(sqlite) is sqlite
    assert "TEXT(1000)" in _ddl(sqlite.dialect, unrelated)


def test_storage_urls_install_no_global_compile_hook(tmp_path):
    """Before 0.2.0 a PostgreSQL URL installed process-wide @compiles hooks."""
    from sqlalchemy import Column, MetaData, Table, Text
    from sqlalchemy.dialects import postgresql

    storage._as_url("postgresql+psycopg://nobody@127.0.0.1:9/none")
    storage.db_settings(tmp_path / "x.db")
    table = Table("t", MetaData(), Column("body", Text(1000)))
    assert "TEXT(1000)" in _ddl(postgresql.dialect(), table)
