"""A generation preset and a storage declaration, written as a third party would.

``toy_sobol`` is one Sobol node named ``toy:sobol`` with Ax's fallback table
removed: Ax does not store that table, so the distribution declares a
``StorageExtension`` whose strategy rule removes it again on load. The
extension also makes Ax's JSON store know :class:`ToyBudget`, and its
``register`` function records that it ran.
"""

from __future__ import annotations

from typing import Any

from ax.adapter.registry import Generators
from ax.generation_strategy.generation_node import GenerationNode
from ax.generation_strategy.generation_strategy import GenerationStrategy
from ax.generation_strategy.generator_spec import GeneratorSpec

from ax_nas_plugins.storage import StorageExtension

NODE = "toy:sobol"
REGISTERED: list[str] = []


class ToyBudget:
    """A small value object a toy plugin keeps in stored options."""

    def __init__(self, epochs: int, unit: str = "epoch") -> None:
        self.epochs = epochs
        self.unit = unit


def encode_budget(budget: ToyBudget) -> dict[str, Any]:
    return {"__type": "ToyBudget", "epochs": budget.epochs, "unit": budget.unit}


def toy_sobol(seed: int = 0) -> GenerationStrategy:
    """Sobol only, in a node whose failures are never hidden by a fallback."""
    node = GenerationNode(
        name=NODE,
        generator_specs=[
            GeneratorSpec(
                generator_enum=Generators.SOBOL, generator_kwargs={"seed": seed}
            )
        ],
    )
    return no_fallback_for_toy_nodes(GenerationStrategy(nodes=[node], name="toy_sobol"))


def no_fallback_for_toy_nodes(strategy: GenerationStrategy) -> GenerationStrategy:
    """The load-time rule: toy nodes have no fallback (idempotent)."""
    node = strategy.nodes_by_name.get(NODE)
    if node is not None:
        node.fallback_specs = {}
    return strategy


def storage() -> StorageExtension:
    """Entry point ``ax_nas_plugins.storage: toy_storage``."""
    return StorageExtension(
        register=lambda: REGISTERED.append("toy"),
        json_encoders={ToyBudget: encode_budget},
        json_decoders={"ToyBudget": ToyBudget},
        strategy_rules=(no_fallback_for_toy_nodes,),
    )


def broken_storage() -> StorageExtension:
    """Entry point ``ax_nas_plugins.storage: broken_storage``: its function fails."""
    raise RuntimeError("toy storage declaration bug")
