"""Input transform that one-hot encodes unordered categoricals inside the model.

The rule: the search space stays discrete for the acquisition optimiser (each
unordered choice is one integer-coded dimension, so candidates are enumerated
or searched locally among real architectures and already-evaluated or pending
ones are excluded exactly), while the GP sees each such dimension as a one-hot
block of 0/1 features and every other dimension scaled to [0, 1] by its bounds.
A GP with one lengthscale per input (the SAAS GP) thereby learns a relevance
per choice value instead of an arbitrary order of the values.

Codes outside ``0..k-1`` (never produced by Ax's ``ChoiceToNumericChoice``) are
clamped to the nearest end. With no categorical dimension the transform only
scales, like BoTorch's ``Normalize``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from ax.generators.torch.botorch_modular.input_constructors.input_transforms import (
    input_transform_argparse,
)
from botorch.models import SingleTaskGP
from botorch.models.transforms.input import InputTransform
from torch import Tensor


class CategoricalOneHot(InputTransform, torch.nn.Module):
    """Scale numeric inputs to [0, 1] and one-hot encode integer-coded categoricals.

    Example::

        tf = CategoricalOneHot(d=2, bounds=torch.tensor([[0.0, 0.0], [4.0, 2.0]]),
                               categorical_features={1: 3})
        tf.transform(torch.tensor([[2.0, 1.0]]))   # -> [[0.5, 0, 1, 0]]

    Args:
        d: Input dimension before encoding.
        bounds: ``2 x d`` lower and upper bounds (categorical columns ignored).
        categorical_features: Column index -> number of values (at least 2).
    """

    def __init__(
        self,
        d: int,
        bounds: Tensor,
        categorical_features: dict[int, int],
        transform_on_train: bool = True,
        transform_on_eval: bool = True,
        transform_on_fantasize: bool = True,
    ) -> None:
        super().__init__()
        self.transform_on_train = transform_on_train
        self.transform_on_eval = transform_on_eval
        self.transform_on_fantasize = transform_on_fantasize
        bounds = torch.as_tensor(bounds, dtype=torch.get_default_dtype())
        if bounds.shape != (2, d):
            raise ValueError(f"bounds must have shape (2, {d}), got {bounds.shape}.")
        for idx, card in categorical_features.items():
            if not 0 <= idx < d or card < 2:
                raise ValueError(
                    f"categorical feature {idx} with {card} values is not valid for "
                    f"d={d} (index in 0..{d - 1}, at least 2 values)."
                )
        self.d = d
        self.categorical_features = {
            int(k): int(v) for k, v in categorical_features.items()
        }
        self.numeric_idx = [i for i in range(d) if i not in self.categorical_features]
        lower = bounds[0, self.numeric_idx]
        span = (bounds[1, self.numeric_idx] - lower).clamp_min(1e-12)
        self.register_buffer("lower", lower)
        self.register_buffer("span", span)

    def transform(self, X: Tensor) -> Tensor:
        parts = []
        for i in range(self.d):
            col = X[..., i : i + 1]
            if i in self.categorical_features:
                k = self.categorical_features[i]
                codes = col.round().clamp(0, k - 1).long().squeeze(-1)
                parts.append(torch.nn.functional.one_hot(codes, k).to(X))
            else:
                j = self.numeric_idx.index(i)
                parts.append((col - self.lower[j].to(X)) / self.span[j].to(X))
        return torch.cat(parts, dim=-1)

    def equals(self, other: InputTransform) -> bool:
        return (
            type(self) is type(other)
            and self.d == other.d
            and self.categorical_features == other.categorical_features
            and torch.equal(self.lower, other.lower)
            and torch.equal(self.span, other.span)
        )


@input_transform_argparse.register(CategoricalOneHot)
def _argparse_categorical_one_hot(
    input_transform_class: type[CategoricalOneHot],
    dataset: Any,
    search_space_digest: Any,
    input_transform_options: dict[str, Any] | None = None,
    torch_device: torch.device | None = None,
    torch_dtype: torch.dtype | None = None,
) -> dict[str, Any]:
    """Bounds and categorical columns from Ax's search-space digest."""
    ssd = search_space_digest
    d = len(dataset.feature_names)
    cats = {}
    for i in ssd.categorical_features:
        choices = ssd.discrete_choices.get(i)
        if choices is None:
            lo, hi = ssd.bounds[i]
            cats[i] = round(hi - lo) + 1
        else:
            cats[i] = len(choices)
    options = dict(input_transform_options or {})
    options.setdefault("d", d)
    options.setdefault(
        "bounds", torch.tensor(ssd.bounds, dtype=torch_dtype, device=torch_device).T
    )
    options.setdefault("categorical_features", cats)
    return options


#: The error every SAAS model gives for fidelity features (it has no fidelity kernel).
SAAS_FIDELITY_ERROR = (
    "The SAAS presets do not support fidelity parameters; "
    "use a multi-fidelity generation strategy instead."
)


class OneHotEncodedInputs:
    """Mixin for a BoTorch model placed after ``CategoricalOneHot``: drop the list.

    Ax hands ``categorical_features`` to every model class; a model whose
    inputs arrive already one-hot encoded ignores the list (BoTorch's
    ``SingleTaskGP`` and the SAAS models would refuse it). When
    ``fidelity_error`` is set, fidelity features are refused with that message.
    Put the mixin first among the bases so its ``construct_inputs`` runs.
    """

    fidelity_error: ClassVar[str | None] = None

    @classmethod
    def construct_inputs(
        cls,
        training_data: Any,
        *,
        categorical_features: list[int] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """The base model's inputs, without ``categorical_features``."""
        del categorical_features
        if cls.fidelity_error is not None and kwargs.pop("fidelity_features", None):
            raise ValueError(cls.fidelity_error)
        return super().construct_inputs(  # type: ignore[misc]
            training_data=training_data, **kwargs
        )


class OneHotSingleTaskGP(OneHotEncodedInputs, SingleTaskGP):
    """BoTorch's ``SingleTaskGP`` for inputs one-hot encoded by ``CategoricalOneHot``.

    Ax's ``categorical_features`` list is dropped (see :class:`OneHotEncodedInputs`).
    """


def register_for_storage() -> None:
    """Make Ax's stores know :class:`CategoricalOneHot` and the GP (idempotent)."""
    from ax.storage.botorch_modular_registry import (
        CLASS_TO_REGISTRY,
        CLASS_TO_REVERSE_REGISTRY,
        register_model,
    )

    register_model(OneHotSingleTaskGP)

    name = CategoricalOneHot.__name__
    CLASS_TO_REGISTRY[InputTransform][CategoricalOneHot] = name
    CLASS_TO_REVERSE_REGISTRY[InputTransform][name] = CategoricalOneHot


register_for_storage()
