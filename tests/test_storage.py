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
