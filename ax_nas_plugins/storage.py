"""Storage of experiments that use plugins: one RegistryBundle for all of them.

The rule: every installed runner and metric class (the pack's and third
parties') is registered in one Ax ``RegistryBundle`` with a storage id derived
from the class's ``__qualname__`` by SHA-256, so the id is the same in every
process and on every machine (Python's ``hash()`` is salted per process, the
cause of Ax issue #1235). A class can pin its id with an integer class
attribute ``ax_nas_storage_id``. Ids that collide with each other or with Ax's
core registries raise :class:`StorageRegistrationError` naming both classes.

Plugins that fail to import are left out with a warning (their experiments
then cannot be decoded, and Ax's decoder names the missing class).

Helpers here wrap Ax's JSON and SQL stores (SQLite by default, PostgreSQL or
any SQLAlchemy URL) with that bundle.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import warnings
from typing import TYPE_CHECKING, Any

from ax_nas_plugins import registry
from ax_nas_plugins.errors import AxNasError, PluginLoadError, StorageRegistrationError

if TYPE_CHECKING:
    from ax.core.experiment import Experiment
    from ax.generation_strategy.generation_strategy import GenerationStrategy
    from ax.storage.registry_bundle import RegistryBundle
    from ax.storage.sqa_store.structs import DBSettings

logger = logging.getLogger(__name__)

# Ids below this are left to Ax's core registries and to hashes Ax makes itself
# (Ax hashes class names modulo 1e5); ours stay in a 32-bit signed column.
_ID_FLOOR = 10**6
_ID_SPAN = 2**31 - 1 - _ID_FLOOR


def storage_id(cls: type) -> int:
    """Stable storage id of a plugin class: pinned, or a SHA-256 of its qualname."""
    pinned = getattr(cls, "ax_nas_storage_id", None)
    if isinstance(pinned, int):
        return pinned
    digest = hashlib.sha256(cls.__qualname__.encode("utf-8")).digest()
    return _ID_FLOOR + int.from_bytes(digest[:8], "big") % _ID_SPAN


def plugin_classes(kind: str) -> dict[str, type]:
    """Classes of one kind (runner or metric) by plugin name; broken ones warn."""
    classes: dict[str, type] = {}
    for name in registry.plugin_infos(kind):
        try:
            classes[name] = registry.load(kind, name)
        except PluginLoadError as exc:
            warnings.warn(f"{exc} It is left out of storage.", stacklevel=3)
    return classes


def _assign_ids(
    classes: dict[str, type], core: dict[type, int], kind: str
) -> dict[type, int]:
    ids: dict[type, int] = {}
    by_id: dict[int, type] = {v: k for k, v in core.items()}
    by_class_name: dict[str, type] = {c.__name__: c for c in core}
    for cls in classes.values():
        if cls in ids or cls in core:
            continue
        other = by_class_name.get(cls.__name__)
        if other is not None and other is not cls:
            raise StorageRegistrationError(
                f"Two {kind} classes share the name {cls.__name__!r}: "
                f"{other.__module__}.{other.__qualname__} and "
                f"{cls.__module__}.{cls.__qualname__}. Ax's JSON store decodes by "
                "class name, so one of them must be renamed."
            )
        sid = storage_id(cls)
        clash = by_id.get(sid)
        if clash is not None and clash is not cls:
            raise StorageRegistrationError(
                f"{kind} classes {clash.__module__}.{clash.__qualname__} and "
                f"{cls.__module__}.{cls.__qualname__} have the same storage id "
                f"{sid}; set a distinct integer `ax_nas_storage_id` on one of them."
            )
        ids[cls] = sid
        by_id[sid] = cls
        by_class_name[cls.__name__] = cls
    return ids


def registry_bundle() -> RegistryBundle:
    """One Ax ``RegistryBundle`` holding every installed runner, metric and
    early-stopping plugin class (strategies are stored by their ``__init__``
    arguments).

    Pass ``bundle.encoder`` / ``bundle.decoder`` to ``DBSettings`` (or use
    :func:`db_settings`), ``bundle.sqa_config`` to Ax's SQL save/load, and
    ``bundle.encoder_registry`` / ``bundle.decoder_registry`` to Ax's JSON store.
    """
    from ax.storage.json_store.registry import (
        CORE_DECODER_REGISTRY,
        CORE_ENCODER_REGISTRY,
    )
    from ax.storage.metric_registry import CORE_METRIC_REGISTRY
    from ax.storage.registry_bundle import RegistryBundle
    from ax.storage.runner_registry import CORE_RUNNER_REGISTRY

    from ax_nas_plugins.generation import register_storage_classes

    register_storage_classes()  # BoTorch classes used by the generation presets

    metric_ids = _assign_ids(plugin_classes("metric"), CORE_METRIC_REGISTRY, "metric")
    runner_ids = _assign_ids(plugin_classes("runner"), CORE_RUNNER_REGISTRY, "runner")
    encoders: dict[type, Any] = dict(CORE_ENCODER_REGISTRY)
    decoders: dict[str, Any] = dict(CORE_DECODER_REGISTRY)
    for cls in early_stopping_classes().values():
        if cls in encoders:
            continue  # Ax's own strategies keep Ax's encoders
        other = decoders.get(cls.__name__)
        if other is not None and other is not cls:
            raise StorageRegistrationError(
                f"Early-stopping class {cls.__module__}.{cls.__qualname__} has the "
                f"name of {getattr(other, '__module__', '?')}."
                f"{getattr(other, '__qualname__', other)!s}, already known to Ax's "
                "JSON store, which decodes by class name; rename one of them."
            )
        encoders[cls] = _init_args_encoder
        decoders[cls.__name__] = cls
    # Ax's core classes (BraninMetric, SyntheticRunner, ...) stay storable too:
    # a bundle's SQL registries hold only the classes it is given.
    bundle = RegistryBundle(
        metric_clss={**CORE_METRIC_REGISTRY, **metric_ids},  # type: ignore[arg-type]
        runner_clss={**CORE_RUNNER_REGISTRY, **runner_ids},  # type: ignore[arg-type]
        json_encoder_registry=encoders,
        json_decoder_registry=decoders,  # type: ignore[arg-type]
    )
    # Whoever decodes through the bundle (an Orchestrator resumed with
    # `db_settings()` too) gets the presets' rules back on the loaded strategy.
    bundle._decoder = _rules_decoder_class()(bundle.sqa_config)
    return bundle


def _rules_decoder_class() -> type:
    """Ax's SQL ``Decoder`` that re-applies the presets' rules to strategies."""
    global _RulesDecoder
    if _RulesDecoder is None:
        from ax.storage.sqa_store.decoder import Decoder

        class PresetRulesDecoder(Decoder):
            def generation_strategy_from_sqa(self, *args: Any, **kwargs: Any) -> Any:
                gs = super().generation_strategy_from_sqa(*args, **kwargs)
                _enforce_generation_rules(gs)
                return gs

        _RulesDecoder = PresetRulesDecoder
    return _RulesDecoder


_RulesDecoder: type | None = None


def early_stopping_classes() -> dict[str, type]:
    """Early-stopping plugins that are Ax strategy classes (factories are skipped)."""
    from ax.early_stopping.strategies.base import BaseEarlyStoppingStrategy

    return {
        name: cls
        for name, cls in plugin_classes("early_stopping").items()
        if isinstance(cls, type) and issubclass(cls, BaseEarlyStoppingStrategy)
    }


def _init_args_encoder(obj: Any) -> dict[str, Any]:
    """Ax JSON of a plugin object: its ``__init__`` arguments, read from attributes.

    House rule: every ``__init__`` argument is kept as an attribute of the
    same name, so the object can be rebuilt by calling the class with them.
    """
    import inspect

    params = inspect.signature(type(obj).__init__).parameters
    args: dict[str, Any] = {"__type": type(obj).__name__}
    for pname, param in params.items():
        if pname == "self" or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if not hasattr(obj, pname):
            raise StorageRegistrationError(
                f"{type(obj).__qualname__} cannot be stored: its __init__ argument "
                f"{pname!r} is not kept as an attribute of the same name."
            )
        args[pname] = getattr(obj, pname)
    return args


def sqlite_url(path: str | os.PathLike[str]) -> str:
    """SQLAlchemy URL of an SQLite file (made absolute, folder created)."""
    full = os.path.abspath(os.fspath(path))
    os.makedirs(os.path.dirname(full) or ".", exist_ok=True)
    return f"sqlite:///{full}"


def _as_url(location: str | os.PathLike[str]) -> str:
    text = os.fspath(location)
    url = text if "://" in text else sqlite_url(text)
    if url.startswith("postgresql"):
        _enable_postgresql()
    return url


_postgres_ready = False


def _enable_postgresql() -> None:
    """Let Ax's schema, written for MySQL, create its tables on PostgreSQL.

    Ax declares long text columns as ``Text(length)`` and ``String(2**32-1)``;
    MySQL picks a TEXT size from the length, PostgreSQL refuses a length on
    TEXT ("type modifier is not allowed for type text") and a VARCHAR over
    10,485,760. For the PostgreSQL dialect only, TEXT is emitted without the
    length and such VARCHARs become TEXT; other dialects are untouched.
    """
    global _postgres_ready
    if _postgres_ready:
        return
    from sqlalchemy.ext.compiler import compiles
    from sqlalchemy.types import String, Text

    @compiles(Text, "postgresql")
    def _text_without_length(type_: Text, compiler: Any, **kw: Any) -> str:
        return "TEXT"

    @compiles(String, "postgresql")
    def _huge_varchar_as_text(type_: String, compiler: Any, **kw: Any) -> str:
        if type_.length is not None and type_.length > 10_485_760:
            return "TEXT"
        return compiler.visit_string(type_, **kw)

    _postgres_ready = True


def db_settings(location: str | os.PathLike[str]) -> DBSettings:
    """``DBSettings`` for an Ax ``Orchestrator``: a SQLAlchemy URL or an SQLite path.

    Example::

        Orchestrator(experiment, gs, options, db_settings=anp.db_settings("nas.db"))
    """
    from ax.storage.sqa_store.structs import DBSettings

    bundle = registry_bundle()
    url = _as_url(location)
    _create_tables(url)  # an Orchestrator on a fresh database needs them
    return DBSettings(url=url, encoder=bundle.encoder, decoder=bundle.decoder)


def _create_tables(url: str) -> None:
    """Create Ax's tables at ``url`` if missing (a throwaway engine; idempotent)."""
    from ax.storage.sqa_store import sqa_classes  # noqa: F401  (registers tables)
    from ax.storage.sqa_store.db import create_all_tables
    from sqlalchemy import create_engine

    engine = create_engine(url)
    try:
        create_all_tables(engine)
    finally:
        engine.dispose()


def connect(location: str | os.PathLike[str]) -> None:
    """Point Ax's SQL store at ``location`` and create its tables if missing.

    Ax keeps one engine per process; connecting to another location replaces it.
    """
    from ax.storage.sqa_store import db

    url = _as_url(location)
    current = getattr(db, "SESSION_FACTORY", None)
    if current is not None and str(db._bound_engine(current).url) == url:
        return
    db.init_engine_and_session_factory(url=url, force_init=current is not None)
    db.create_all_tables(db.get_engine())


def save_experiment(
    experiment: Experiment,
    location: str | os.PathLike[str],
    generation_strategy: GenerationStrategy | None = None,
) -> None:
    """Save an experiment (and its generation strategy) to SQL or a ``.json`` file.

    Fires the ``ax_nas_experiment_saved`` hook once the write succeeded.
    """
    text = os.fspath(location)
    bundle = registry_bundle()
    if text.endswith(".json"):
        payload: dict[str, Any] = {"experiment": to_json(experiment, bundle)}
        if generation_strategy is not None:
            payload["generation_strategy"] = to_json(generation_strategy, bundle)
        tmp = text + ".tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(payload, fh)
        os.replace(tmp, text)  # never leave a half-written file in place
    else:
        from ax.storage.sqa_store.save import (
            save_experiment as sqa_save_experiment,
        )
        from ax.storage.sqa_store.save import (
            save_generation_strategy,
        )

        connect(text)
        sqa_save_experiment(experiment, config=bundle.sqa_config)
        if generation_strategy is not None:
            save_generation_strategy(generation_strategy, config=bundle.sqa_config)
    from ax_nas_plugins import hooks

    hooks.fire(
        "ax_nas_experiment_saved",
        experiment_name=experiment.name,
        location=text,
        experiment=experiment,
    )


def load_experiment(
    location: str | os.PathLike[str], name: str | None = None
) -> tuple[Experiment, GenerationStrategy | None]:
    """Load an experiment and its generation strategy saved by :func:`save_experiment`.

    ``name`` is required for SQL locations (one database holds many experiments).
    """
    text = os.fspath(location)
    bundle = registry_bundle()
    if text.endswith(".json"):
        try:
            with open(text, encoding="utf-8") as fh:
                payload = json.load(fh)
        except (OSError, json.JSONDecodeError) as exc:
            raise AxNasError(f"Cannot read experiment file {text!r}: {exc}") from exc
        exp = from_json(payload["experiment"], bundle)
        gs_json = payload.get("generation_strategy")
        gs = from_json(gs_json, bundle) if gs_json is not None else None
        if gs is not None:
            gs._experiment = exp
            _enforce_generation_rules(gs)
        return exp, gs
    if name is None:
        raise AxNasError(
            f"Loading from {text!r} needs the experiment name (argument `name`)."
        )
    from ax.storage.sqa_store.load import (
        load_experiment as sqa_load_experiment,
    )
    from ax.storage.sqa_store.load import (
        load_generation_strategy_by_experiment_name,
    )

    connect(text)
    exp = sqa_load_experiment(name, config=bundle.sqa_config)
    try:
        gs = load_generation_strategy_by_experiment_name(
            name, config=bundle.sqa_config, experiment=exp
        )
    except ValueError:
        gs = None  # the experiment was saved without one
    if gs is not None:
        _enforce_generation_rules(gs)
    return exp, gs


def _enforce_generation_rules(gs: GenerationStrategy) -> None:
    """Ax does not store a node's fallback table; re-apply the presets' rules."""
    from ax_nas_plugins.generation import enforce_rules

    enforce_rules(gs)


def to_json(obj: Any, bundle: RegistryBundle | None = None) -> dict[str, Any]:
    """Ax JSON of any Ax object (experiment, generation strategy, ...) with plugins."""
    from ax.storage.json_store.encoder import object_to_json

    bundle = bundle or registry_bundle()
    return object_to_json(
        obj,
        encoder_registry=bundle.encoder_registry,
        class_encoder_registry=bundle.class_encoder_registry,
    )


def from_json(data: dict[str, Any], bundle: RegistryBundle | None = None) -> Any:
    """Inverse of :func:`to_json`."""
    from ax.storage.json_store.decoder import object_from_json

    bundle = bundle or registry_bundle()
    return object_from_json(
        data,
        decoder_registry=bundle.decoder_registry,
        class_decoder_registry=bundle.class_decoder_registry,
    )
