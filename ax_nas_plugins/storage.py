"""Storage of experiments that use plugins: one RegistryBundle for all of them.

The rule: every installed runner and metric class (the pack's and third
parties') is registered in one Ax ``RegistryBundle`` with a storage id derived
from the class's ``__qualname__`` by SHA-256, so the id is the same in every
process and on every machine (Python's ``hash()`` is salted per process, the
cause of Ax issue #1235). A class can pin its id with an integer class
attribute ``ax_nas_storage_id``. Ids that collide with each other or with Ax's
core registries raise :class:`StorageRegistrationError` naming both classes.

Anything else a plugin needs stored (model classes, JSON codecs, rules
re-applied to loaded generation strategies) it declares as a
:class:`StorageExtension` under the ``ax_nas_plugins.storage`` entry-point
group; the pack's own generation presets do exactly that.

Plugins that fail to import are left out with a warning (their experiments
then cannot be decoded, and Ax's decoder names the missing class).

Helpers here wrap Ax's JSON and SQL stores (SQLite by default, PostgreSQL or
any SQLAlchemy URL) with that bundle. Nothing here changes process-wide
state except Ax's own one-engine-per-process SQL store in :func:`connect`
(used by :func:`save_experiment` / :func:`load_experiment` for SQL locations).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
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
    early-stopping plugin class, and every plugin's :class:`StorageExtension`
    (strategies are stored by their ``__init__`` arguments).

    Pass ``bundle.encoder`` / ``bundle.decoder`` to ``DBSettings`` (or use
    :func:`db_settings`), ``bundle.sqa_config`` to Ax's SQL save/load, and
    ``bundle.encoder_registry`` / ``bundle.decoder_registry`` to Ax's JSON
    store. ``bundle.decoder`` re-applies the extensions' strategy rules to
    every generation strategy it decodes.
    """
    from ax.storage.metric_registry import CORE_METRIC_REGISTRY
    from ax.storage.runner_registry import CORE_RUNNER_REGISTRY

    from ax_nas_plugins._bundle import PluginRegistryBundle

    extensions = storage_extensions()
    for ext in extensions.values():
        if ext.register is not None:
            ext.register()  # e.g. BoTorch classes into Ax's modular registry

    metric_ids = _assign_ids(plugin_classes("metric"), CORE_METRIC_REGISTRY, "metric")
    runner_ids = _assign_ids(plugin_classes("runner"), CORE_RUNNER_REGISTRY, "runner")
    registries = _json_registries(extensions)
    # Ax's core classes (BraninMetric, SyntheticRunner, ...) stay storable too:
    # a bundle's SQL registries hold only the classes it is given.
    return PluginRegistryBundle(
        metric_clss={**CORE_METRIC_REGISTRY, **metric_ids},
        runner_clss={**CORE_RUNNER_REGISTRY, **runner_ids},
        json_encoder_registry=registries.encoders,
        json_decoder_registry=registries.decoders,
        json_class_encoder_registry=registries.class_encoders,
        json_class_decoder_registry=registries.class_decoders,
        strategy_rules=registries.rules,
    )


@dataclass
class _JsonRegistries:
    encoders: dict[type, Any]
    decoders: dict[str, Any]
    class_encoders: dict[type, Any]
    class_decoders: dict[str, Any]
    rules: list[Any]


def _json_registries(extensions: dict[str, StorageExtension]) -> _JsonRegistries:
    """Ax's core JSON registries, plus early-stopping classes and extensions.

    Ax's JSON store decodes by class name, so a name already taken by another
    class raises :class:`StorageRegistrationError` naming both.
    """
    from ax.storage.json_store.registry import (
        CORE_CLASS_DECODER_REGISTRY,
        CORE_CLASS_ENCODER_REGISTRY,
        CORE_DECODER_REGISTRY,
        CORE_ENCODER_REGISTRY,
    )

    reg = _JsonRegistries(
        dict(CORE_ENCODER_REGISTRY),
        dict(CORE_DECODER_REGISTRY),
        dict(CORE_CLASS_ENCODER_REGISTRY),
        dict(CORE_CLASS_DECODER_REGISTRY),
        [],
    )
    for cls in early_stopping_classes().values():
        if cls in reg.encoders:
            continue  # Ax's own strategies keep Ax's encoders
        _check_decoder_name(reg.decoders, cls.__name__, cls, "early-stopping class")
        reg.encoders[cls] = _init_args_encoder
        reg.decoders[cls.__name__] = cls
    for ext_name, ext in extensions.items():
        where = f"storage extension {ext_name!r}"
        for name, target in ext.json_decoders.items():
            _check_decoder_name(reg.decoders, name, target, where)
            reg.decoders[name] = target
        for name, target in ext.json_class_decoders.items():
            _check_decoder_name(reg.class_decoders, name, target, where)
            reg.class_decoders[name] = target
        reg.encoders.update(ext.json_encoders)
        reg.class_encoders.update(ext.json_class_encoders)
        reg.rules.extend(ext.strategy_rules)
    return reg


def _check_decoder_name(
    decoders: dict[str, Any], name: str, target: Any, what: str
) -> None:
    """Ax's JSON store decodes by class name: one name, one class."""
    other = decoders.get(name)
    if other is None or other is target:
        return
    raise StorageRegistrationError(
        f"{what}: the JSON name {name!r} of {_qualified(target)} is already "
        f"taken by {_qualified(other)}, known to Ax's JSON store, which decodes "
        "by class name; rename one of them."
    )


def _qualified(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', obj)!s}"


@dataclass(frozen=True)
class StorageExtension:
    """What a plugin distribution adds to Ax's stores, declared by entry point.

    The rule: a distribution that needs more than its runner and metric
    classes stored (a generation preset's BoTorch model class, a class kept in
    a strategy's options, a rule Ax does not store) declares it under the
    ``ax_nas_plugins.storage`` entry-point group, naming a function with no
    arguments that returns a ``StorageExtension``. :func:`registry_bundle`
    calls every such function (lazily, when a bundle is built; the pack's own
    generation presets are declared the same way), then:

    - ``register()``, if given: registers classes with Ax's global registries
      that a bundle cannot carry (e.g. BoTorch models and input transforms in
      ``ax.storage.botorch_modular_registry``); it must be idempotent;
    - ``json_encoders`` / ``json_decoders`` (type -> function returning a
      dict with ``"__type"``, and class name -> class or function) and
      ``json_class_encoders`` / ``json_class_decoders`` go into the bundle's
      JSON registries, used by the JSON and the SQL store; a name taken by
      another class raises :class:`StorageRegistrationError`;
    - ``strategy_rules`` are called, in order, on every generation strategy
      loaded through the bundle (:func:`load_experiment`, :func:`from_json`,
      ``bundle.decoder``, hence ``anp.db_settings`` and
      ``Orchestrator.from_stored_experiment``). A rule must be idempotent and
      leave strategies it does not own untouched.

    An extension whose import or function fails is left out with a warning
    naming it and its distribution, like any broken plugin.
    """

    register: Callable[[], Any] | None = None
    json_encoders: Mapping[type, Callable[[Any], dict[str, Any]]] = field(
        default_factory=dict
    )
    json_decoders: Mapping[str, Any] = field(default_factory=dict)
    json_class_encoders: Mapping[type, Callable[[Any], dict[str, Any]]] = field(
        default_factory=dict
    )
    json_class_decoders: Mapping[str, Callable[[dict[str, Any]], Any]] = field(
        default_factory=dict
    )
    strategy_rules: Sequence[Callable[[GenerationStrategy], Any]] = ()


def storage_extensions() -> dict[str, StorageExtension]:
    """Installed :class:`StorageExtension` objects by name; broken ones warn."""
    found: dict[str, StorageExtension] = {}
    for name, plugin in registry.plugin_infos("storage").items():
        try:
            ext = registry.load("storage", name)()
        except PluginLoadError as exc:
            warnings.warn(f"{exc} It is left out of storage.", stacklevel=3)
            continue
        except Exception as exc:  # third-party code: report it, keep the rest
            problem = f"its function raised {type(exc).__name__}: {exc}"
        else:
            if isinstance(ext, StorageExtension):
                found[name] = ext
                continue
            problem = f"its function returned {ext!r}, not a StorageExtension"
        warnings.warn(
            f"The storage extension {name!r} (entry point {plugin.value!r} from "
            f"distribution {plugin.distribution!r}) is left out of storage: "
            f"{problem}.",
            stacklevel=3,
        )
    return found


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
    return text if "://" in text else sqlite_url(text)


def db_settings(location: str | os.PathLike[str]) -> DBSettings:
    """``DBSettings`` for an Ax ``Orchestrator``: a SQLAlchemy URL or an SQLite path.

    Ax's tables are created first if missing (on PostgreSQL too, see
    :mod:`ax_nas_plugins._sql_tables`; nothing process-wide is changed).

    Example::

        Orchestrator(experiment, gs, options, db_settings=anp.db_settings("nas.db"))
    """
    from ax.storage.sqa_store.structs import DBSettings

    from ax_nas_plugins._sql_tables import create_tables

    bundle = registry_bundle()
    url = _as_url(location)
    create_tables(url)  # an Orchestrator on a fresh database needs them
    return DBSettings(url=url, encoder=bundle.encoder, decoder=bundle.decoder)


def connect(location: str | os.PathLike[str]) -> None:
    """Point Ax's SQL store at ``location`` and create its tables if missing.

    Ax keeps one engine per process; connecting to another location replaces it.
    """
    from ax.storage.sqa_store import db

    from ax_nas_plugins._sql_tables import create_tables

    url = _as_url(location)
    try:
        current = db.get_engine()
    except ValueError:  # Ax's store was not initialized in this process yet
        current = None
    if current is not None and current.url.render_as_string(hide_password=False) == url:
        return
    create_tables(url)
    db.init_engine_and_session_factory(url=url, force_init=current is not None)


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
            gs.experiment = exp
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
        bundle.apply_strategy_rules(gs)
    return exp, gs


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
    """Inverse of :func:`to_json`; a generation strategy gets its load-time rules."""
    from ax.generation_strategy.generation_strategy import GenerationStrategy
    from ax.storage.json_store.decoder import object_from_json

    from ax_nas_plugins._bundle import PluginRegistryBundle

    bundle = bundle or registry_bundle()
    obj = object_from_json(
        data,
        decoder_registry=bundle.decoder_registry,
        class_decoder_registry=bundle.class_decoder_registry,
    )
    if isinstance(obj, GenerationStrategy) and isinstance(bundle, PluginRegistryBundle):
        bundle.apply_strategy_rules(obj)
    return obj
