"""The SAAS prior fitted by MAP: BoTorch's ensemble of four sparse GPs, no MCMC.

The rule: :class:`NasMapSaasGP` is BoTorch's ``EnsembleMapSaasSingleTaskGP``
(four Matern-5/2 GPs, each with the SAAS half-Cauchy prior on its inverse
squared lengthscales under its own global shrinkage drawn from HC(0.1),
fitted by maximum a posteriori with L-BFGS and averaged as a mixture), taking
its inputs one-hot encoded by ``CategoricalOneHot`` like :class:`NasSaasGP`.
It needs neither JAX nor NumPyro, costs seconds per fit and, measured in
``benchmarks/saas_fit.py``, finds the active inputs of a sparse problem with
fewer points than a short NUTS run (see ``docs/generation.md``).
"""

from __future__ import annotations

from typing import Any

from botorch.models.map_saas import EnsembleMapSaasSingleTaskGP


class NasMapSaasGP(EnsembleMapSaasSingleTaskGP):
    """BoTorch's MAP-SAAS ensemble over inputs one-hot encoded by CategoricalOneHot."""

    @classmethod
    def construct_inputs(
        cls,
        training_data: Any,
        *,
        categorical_features: list[int] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """BoTorch's inputs; the categorical columns arrive one-hot encoded."""
        del categorical_features
        if kwargs.pop("fidelity_features", None):
            raise ValueError(
                "The SAAS presets do not support fidelity parameters; "
                "use a multi-fidelity generation strategy instead."
            )
        return super().construct_inputs(training_data=training_data, **kwargs)


def register_for_storage() -> None:
    """Make Ax's JSON and SQL stores know :class:`NasMapSaasGP` (idempotent)."""
    from ax.storage.botorch_modular_registry import register_model

    register_model(NasMapSaasGP)


register_for_storage()
