"""The SAAS prior fitted by MAP: BoTorch's ensemble of four sparse GPs, no MCMC.

The rule: :class:`NasMapSaasGP` is BoTorch's ``EnsembleMapSaasSingleTaskGP``
(four Matern-5/2 GPs, each with the SAAS half-Cauchy prior on its inverse
squared lengthscales under its own global shrinkage drawn from HC(0.1),
fitted by maximum a posteriori with L-BFGS and averaged as a mixture), taking
its inputs one-hot encoded by ``CategoricalOneHot`` like :class:`NasSaasGP`.
It needs neither JAX nor NumPyro, costs seconds per fit and, measured in
``benchmarks/saas_fit.py``, finds the active inputs of a sparse problem with
fewer points than a short NUTS run (see ``docs/generation.md``).

:class:`NasAdditiveMapSaasGP` (``fit="additive"``) is BoTorch's
``AdditiveMapSaasSingleTaskGP`` with the same one-hot inputs: one GP whose
kernel is the sum of four scaled Matern-5/2 kernels, each under the SAAS prior
with its own global shrinkage from HC(0.1), all fitted together by MAP. Its
fit costs more (one L-BFGS run over every kernel's lengthscales), and on the
100-input BraninCurrin it found more of the front after 30 evaluations (level
with the ensemble at 30 inputs).
"""

from __future__ import annotations

from botorch.models.map_saas import (
    AdditiveMapSaasSingleTaskGP,
    EnsembleMapSaasSingleTaskGP,
)

from ax_nas_plugins.generation._onehot import SAAS_FIDELITY_ERROR, OneHotEncodedInputs


class NasMapSaasGP(OneHotEncodedInputs, EnsembleMapSaasSingleTaskGP):
    """BoTorch's MAP-SAAS ensemble over inputs one-hot encoded by CategoricalOneHot."""

    fidelity_error = SAAS_FIDELITY_ERROR


class NasAdditiveMapSaasGP(OneHotEncodedInputs, AdditiveMapSaasSingleTaskGP):
    """BoTorch's additive MAP-SAAS GP over one-hot inputs (CategoricalOneHot)."""

    fidelity_error = SAAS_FIDELITY_ERROR


def register_for_storage() -> None:
    """Make Ax's JSON and SQL stores know both MAP-SAAS classes (idempotent)."""
    from ax.storage.botorch_modular_registry import register_model

    register_model(NasMapSaasGP)
    register_model(NasAdditiveMapSaasGP)


register_for_storage()
