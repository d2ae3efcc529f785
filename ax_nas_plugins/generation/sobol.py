"""The ``sobol`` preset: quasi-random search, the baseline every other preset beats."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ax.generation_strategy.generation_strategy import GenerationStrategy


def sobol(
    *,
    seed: int | None = None,
    max_parallelism: int | None = None,
    deduplicate: bool = True,
) -> GenerationStrategy:
    """Quasi-random Sobol search for every trial, never proposing a repeated arm.

    Sobol points fill the space evenly; with ``deduplicate`` (the default) an
    arm already on the experiment is redrawn rather than proposed again, which
    matters for NAS spaces made only of choices. ``seed`` makes the sequence
    repeatable; ``max_parallelism`` caps the trials running at once (``None``:
    no cap).

    Args:
        seed: Seed of the scrambled Sobol sequence.
        max_parallelism: Most trials generated while earlier ones still run.
        deduplicate: Redraw arms that already exist on the experiment.
    """
    from ax.adapter.registry import Generators
    from ax.generation_strategy.generation_strategy import (
        GenerationStep,
        GenerationStrategy,
    )

    if max_parallelism is not None and max_parallelism < 1:
        raise ValueError(
            f"sobol: max_parallelism must be a positive integer or None, "
            f"got {max_parallelism!r}."
        )
    step = GenerationStep(
        generator=Generators.SOBOL,
        num_trials=-1,
        max_parallelism=max_parallelism,
        generator_kwargs={"deduplicate": deduplicate, "seed": seed},
        should_deduplicate=deduplicate,
    )
    return GenerationStrategy(nodes=[step], name="sobol")
