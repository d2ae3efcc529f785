"""Ax's acquisition, with the continuous optimiser's L-BFGS run capped.

The rule: :class:`CappedLbfgsAcquisition` is Ax's ``Acquisition`` except that,
when Ax optimises the acquisition function with BoTorch's ``optimize_acqf``
(a search space without discrete parameters), each restart's L-BFGS run stops
after ``options["acqf_maxiter"]`` iterations instead of BoTorch's 2000, and
``options["acqf_restarts"]``, when given, is the number of restarts instead of
Ax's 20 (the raw samples they are picked from stay Ax's 1024). A ``maxiter``
or ``num_restarts`` the caller passes in ``optimizer_options`` wins; the
discrete and mixed optimisers (NAS cells, one-hot blocks) are left exactly as
Ax sets them, since their iteration options mean other things.

Why: in a ``saasbo_fast(fit="additive")`` suggestion on the 100-input
BraninCurrin, the acquisition's L-BFGS was most of the time, not the fit:
with 50 points one suggestion took 105 CPU s, of which 101 in
``optimize_acqf`` and 3.6 in the fit; capped at 50 iterations, 16 CPU s
(``docs/generation_benchmarks.md``).
"""

from __future__ import annotations

from typing import Any

from ax.generators.torch.botorch_modular.acquisition import Acquisition

#: The key of ``acquisition_options`` (Ax's ``Acquisition.options``) read here.
MAXITER_OPTION = "acqf_maxiter"
#: The key of ``acquisition_options`` for the number of restarts.
RESTARTS_OPTION = "acqf_restarts"


class CappedLbfgsAcquisition(Acquisition):
    """``Acquisition`` whose continuous L-BFGS is capped (module rule)."""

    def optimize(  # type: ignore[override]
        self,
        n: int,
        search_space_digest: Any,
        inequality_constraints: Any = None,
        equality_constraints: Any = None,
        fixed_features: dict[int, float] | None = None,
        rounding_func: Any = None,
        optimizer_options: dict[str, Any] | None = None,
        candidate_set: Any = None,
        sampling_strategy: Any = None,
    ) -> Any:
        """Ax's ``optimize`` with the caps added for ``optimize_acqf`` (module rule)."""
        cap = self.options.get(MAXITER_OPTION)
        restarts = self.options.get(RESTARTS_OPTION)
        untouched = cap is None and restarts is None
        if not untouched and candidate_set is None and sampling_strategy is None:
            optimizer_options = _with_caps(
                self._optimizer_name(search_space_digest, fixed_features),
                optimizer_options,
                cap,
                restarts,
            )
        return super().optimize(
            n=n,
            search_space_digest=search_space_digest,
            inequality_constraints=inequality_constraints,
            equality_constraints=equality_constraints,
            fixed_features=fixed_features,
            rounding_func=rounding_func,
            optimizer_options=optimizer_options,
            candidate_set=candidate_set,
            sampling_strategy=sampling_strategy,
        )

    def _optimizer_name(
        self, search_space_digest: Any, fixed_features: dict[int, float] | None
    ) -> str:
        """The optimiser Ax's ``optimize`` will pick (its own rule, same inputs)."""
        from ax.generators.torch.botorch_modular.acquisition import (
            determine_optimizer,
        )
        from ax.generators.utils import mk_discrete_choices

        return determine_optimizer(
            search_space_digest=search_space_digest,
            discrete_choices=mk_discrete_choices(
                ssd=search_space_digest, fixed_features=fixed_features
            ),
            acqf=self.acqf,
        )


def _with_caps(
    optimizer: str,
    optimizer_options: dict[str, Any] | None,
    cap: int | None,
    restarts: int | None = None,
) -> dict[str, Any] | None:
    """``optimizer_options`` with ``options.maxiter=cap`` and ``num_restarts=restarts``.

    Each is set only when not None and not already given by the caller, and
    only for ``optimize_acqf``; any other optimiser gets the options unchanged.
    """
    if optimizer != "optimize_acqf":
        return optimizer_options
    options = dict(optimizer_options or {})
    if cap is not None:
        options["options"] = {"maxiter": cap, **(options.get("options") or {})}
    if restarts is not None:
        options.setdefault("num_restarts", restarts)
    return options


def register_for_storage() -> None:
    """Make Ax's JSON and SQL stores know the capped acquisition (idempotent)."""
    from ax.storage.botorch_modular_registry import register_acquisition

    register_acquisition(CappedLbfgsAcquisition)


register_for_storage()
