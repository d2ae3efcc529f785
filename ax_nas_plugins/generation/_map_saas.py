"""The SAAS prior fitted by MAP: BoTorch's ensemble of four sparse GPs, no MCMC.

The rule: :class:`NasMapSaasGP` is BoTorch's ``EnsembleMapSaasSingleTaskGP``
(four Matern-5/2 GPs, each with the SAAS half-Cauchy prior on its inverse
squared lengthscales under its own global shrinkage drawn from HC(0.1),
fitted by maximum a posteriori with L-BFGS and averaged as a mixture), taking
its inputs one-hot encoded by ``CategoricalOneHot`` like :class:`NasSaasGP`.
It needs neither JAX nor NumPyro, costs seconds per fit and, measured in
``benchmarks/saas_fit.py``, finds the active inputs of a sparse problem with
fewer points than a short NUTS run (see ``docs/generation_benchmarks.md``).

:class:`NasAdditiveMapSaasGP` (``fit="additive"``) is BoTorch's
``AdditiveMapSaasSingleTaskGP`` with the same one-hot inputs: one GP whose
kernel is the sum of four scaled Matern-5/2 kernels, each under the SAAS prior
with its own global shrinkage from HC(0.1), all fitted together by MAP. Its
L-BFGS run stops after :attr:`NasAdditiveMapSaasGP.fit_maxiter` (100)
iterations instead of BoTorch's 15000: run to convergence, one fit took up to
about 1200 iterations and three quarters of a suggestion's time, while the
capped fit found as much of the front on the 100-input BraninCurrin at about a
third of the cost (``docs/generation_benchmarks.md``).
"""

from __future__ import annotations

from typing import Any

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
    #: Most L-BFGS iterations of one fit (``None``: BoTorch's default, 15000).
    fit_maxiter: int | None = 100

    def custom_fit(
        self, mll: Any, optimizer_kwargs: dict[str, Any] | None = None, **kwargs: Any
    ) -> Any:
        """Fit as ``fit_gpytorch_mll`` would, L-BFGS capped at ``fit_maxiter``.

        ``fit_gpytorch_mll`` calls this instead of its own routine because the
        model has a ``custom_fit``; a ``maxiter`` the caller passes in
        ``optimizer_kwargs["options"]`` wins over the cap.
        """
        from botorch.fit import _fit_fallback

        optimizer_kwargs = dict(optimizer_kwargs or {})
        if self.fit_maxiter is not None:
            optimizer_kwargs["options"] = {
                "maxiter": self.fit_maxiter,
                **(optimizer_kwargs.get("options") or {}),
            }
        return _fit_fallback(mll=mll, optimizer_kwargs=optimizer_kwargs, **kwargs)


def register_for_storage() -> None:
    """Make Ax's JSON and SQL stores know both MAP-SAAS classes (idempotent)."""
    from ax.storage.botorch_modular_registry import register_model

    register_model(NasMapSaasGP)
    register_model(NasAdditiveMapSaasGP)


register_for_storage()
