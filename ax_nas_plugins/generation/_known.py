"""Metrics known before training (a latency, a parameter count) as the GP's prior mean.

The rule: for a metric named in a preset's ``known_metrics``, the user gives an
*estimator*, a function of the arm's parameters that returns the metric's value
(or an estimate of it) without training, e.g. the parameter count computed
from the layer widths, or a latency measured on the untrained network. That
metric's GP then has the prior mean ``slope * z(estimate(x)) + constant``,
where ``z`` standardises the estimates of the training arms and ``slope`` and
``constant`` are fitted with the kernel's hyperparameters; the GP models only
what the estimate gets wrong. The acquisition therefore knows the metric of
every candidate, not only of the arms already run. Every other metric keeps
the preset's GP.

The estimator is stored by import path (``"package.module:function"``), with
the search space it decodes, in the generation strategy Ax saves, so a
strategy loaded in another process rebuilds the same model; the function must
be importable there (a function that its path does not import, e.g. one
defined in code run by ``exec``, is used as given in this process, with a
warning). It is called with a ``dict`` of parameter name to value
(every parameter of the search space, fixed ones included) and must return a
finite number; results are cached per point. Between the allowed values of
an ordered dimension (an ordered choice, an integer range), where BoTorch's
optimiser relaxes a dimension of many values to a continuous one, the
estimate is interpolated linearly from the allowed values around the point,
so the prior mean has a gradient there (``KnownValues``).

Why: measured on NAS-Bench-201 (``docs/generation_benchmarks.md``), the
latency of a cell is known before training, and the GP that had to learn it
from 8-40 evaluated cells missed the fast end of the front, where most of the
hypervolume is.
"""

from __future__ import annotations

import importlib
import logging
import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import torch
from botorch.models import SingleTaskGP
from botorch.models.gp_regression_mixed import MixedSingleTaskGP
from gpytorch.means import Mean
from torch import Tensor

if TYPE_CHECKING:
    from ax.core.search_space import SearchSpace
    from ax.core.types import TParamValue
    from botorch.utils.datasets import SupervisedDataset

Estimator = Callable[[dict[str, Any]], float]


logger = logging.getLogger("ax_nas_plugins.generation")
#: integer ranges up to this many steps are interpolated between neighbours
_MAX_INT_GRID = 100_000
#: import path -> function given in this process that the path does not import
_LIVE: dict[str, Callable[..., Any]] = {}


class KnownMetricError(ValueError):
    """An estimator that cannot be imported, called, or returns a non-number."""


def estimator_path(name: str, value: str | Estimator) -> str:
    """``"module:attr"`` of an estimator given as that string or as a function.

    The rule: a path must import and name a callable. A function is named by
    its module and qualified name, so lambdas and nested functions are
    refused; when that path does not import back to the function (code run
    by ``exec``, a notebook cell run again), this process uses the function
    itself and a warning says that another process will need the path.
    """
    if isinstance(value, str):
        path = value
    elif callable(value):
        module = getattr(value, "__module__", None)
        qualname = getattr(value, "__qualname__", None)
        if not module or not qualname or "<" in qualname:
            raise KnownMetricError(
                f"known_metrics[{name!r}]: {value!r} cannot be stored (a lambda or "
                "nested function); give a module-level function or its import path "
                "'package.module:function'."
            )
        path = f"{module}:{qualname}"
    else:
        raise KnownMetricError(
            f"known_metrics[{name!r}] must be an import path 'package.module:function' "
            f"or a function, got {type(value).__name__}."
        )
    if isinstance(value, str):
        load_estimator(name, path)
        return path
    if _LIVE.get(path) is value:
        return path
    _LIVE.pop(path, None)
    try:
        imported = load_estimator(name, path)
    except KnownMetricError:
        imported = None
    if imported is not value:
        # defined in a script run by exec, a notebook cell run again, ...: this
        # process uses the function itself; another process must import it
        _LIVE[path] = value
        logger.warning(
            "known_metrics[%r]: %s does not import back to the function given; "
            "this process uses the function, a strategy loaded in another process "
            "will need it importable under that path.",
            name,
            path,
        )
    return path


def load_estimator(name: str, path: str) -> Estimator:
    """Import ``"module:attr"`` (``"module.attr"`` also accepted) as a callable.

    A function given to this process that its path does not import (see
    :func:`estimator_path`) is returned as given.
    """
    if path in _LIVE:
        return _LIVE[path]
    mod_name, sep, attr = path.partition(":")
    if not sep:
        mod_name, _, attr = path.rpartition(".")
    if not mod_name or not attr:
        raise KnownMetricError(
            f"known_metrics[{name!r}]: {path!r} is not an import path "
            "'package.module:function'."
        )
    try:
        obj: Any = importlib.import_module(mod_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise KnownMetricError(
            f"known_metrics[{name!r}]: cannot import {path!r}: {exc}"
        ) from exc
    if not callable(obj):
        raise KnownMetricError(
            f"known_metrics[{name!r}]: {path!r} is {type(obj).__name__}, "
            "not a function."
        )
    return obj


class ParameterDecoder:
    """Map rows of the model's inputs back to parameter dicts with Ax's own transforms.

    The rule: the inputs the BoTorch model sees are the arm's parameters after
    the preset's Ax transforms (``RemoveFixed``, ``ChoiceToNumericChoice``,
    ``Log``, ``Logit``) in the order of ``feature_names``; decoding snaps each
    value to its transformed domain (nearest choice, integers rounded) and runs
    the transforms' inverses, as Ax does for its own candidates.
    """

    def __init__(self, search_space: SearchSpace, feature_names: list[str]) -> None:
        from ax.adapter.registry import Mixed_transforms
        from ax.core.parameter import ChoiceParameter, ParameterType, RangeParameter

        ss = search_space.clone()
        self.transforms = []
        for cls in Mixed_transforms:
            t = cls(search_space=ss)
            ss = t.transform_search_space(ss)
            self.transforms.append(t)
        unknown = [n for n in feature_names if n not in ss.parameters]
        if unknown:
            raise KnownMetricError(
                f"known_metrics: the model's inputs {', '.join(unknown)} are not "
                f"parameters of the stored search space "
                f"({', '.join(ss.parameters)}); the experiment's search space "
                "changed after the strategy was made: make the strategy again."
            )
        self.names = list(feature_names)
        #: per feature, how a column of model inputs is snapped to allowed
        #: values: a list of numeric choices (nearest, first on a tie), "int"
        #: (rounded half to even, as Python's ``round``) or "float" (as is)
        self._snaps: list[list[TParamValue] | str] = []
        #: feature index -> sorted values, for the ordered dimensions (ordered
        #: choices and integer ranges) that BoTorch may relax to continuous
        self.grids: dict[int, Tensor] = {}
        for j, n in enumerate(self.names):
            p = ss.parameters[n]
            if isinstance(p, ChoiceParameter):
                values = list(p.values)
                self._snaps.append(values)
                if p.is_ordered and all(
                    isinstance(v, (int, float)) and not isinstance(v, bool)
                    for v in values
                ):
                    self.grids[j] = torch.tensor(sorted(values), dtype=torch.double)
            elif (
                isinstance(p, RangeParameter) and p.parameter_type == ParameterType.INT
            ):
                self._snaps.append("int")
                if p.upper - p.lower <= _MAX_INT_GRID:
                    self.grids[j] = torch.arange(
                        int(p.lower), int(p.upper) + 1, dtype=torch.double
                    )
            else:
                self._snaps.append("float")

    def decode(self, rows: Tensor | list[list[float]]) -> list[dict[str, TParamValue]]:
        """Parameter dicts (original domain) of rows in the model's input space.

        Snapping is done a column at a time in torch (the same result as
        snapping each value in Python: nearest choice, the first listed on a
        tie; integers rounded half to even); only the transforms' inverses
        run per row.
        """
        from ax.core.observation import ObservationFeatures

        X = torch.as_tensor(rows, dtype=torch.double).reshape(-1, len(self.names))
        columns = [_snap(X[:, j], how) for j, how in enumerate(self._snaps)]
        feats = [
            ObservationFeatures(parameters=dict(zip(self.names, values, strict=True)))
            for values in zip(*columns, strict=True)
        ]
        for t in reversed(self.transforms):
            feats = t.untransform_observation_features(feats)
        return [dict(f.parameters) for f in feats]


#: rows per block when snapping to choices (bounds the rows x choices matrix)
_SNAP_BLOCK = 4096


def _snap(column: Tensor, how: list[TParamValue] | str) -> list[TParamValue]:
    """One column of model inputs snapped to its allowed values (see ``decode``)."""
    if how == "float":
        return column.tolist()
    if how == "int":
        # torch.round rounds half to even, like Python's round
        return [int(v) for v in torch.round(column).tolist()]
    choices = torch.tensor(how, dtype=torch.double)
    picks: list[int] = []
    for start in range(0, column.shape[0], _SNAP_BLOCK):
        block = column[start : start + _SNAP_BLOCK]
        # argmin returns the first minimum, as min() over the list does
        picks += (block[:, None] - choices[None, :]).abs().argmin(dim=1).tolist()
    return [how[i] for i in picks]


class KnownValues:
    """Cached estimates of one metric at rows of the model's (raw) inputs."""

    def __init__(self, metric: str, estimator: str, decoder: ParameterDecoder) -> None:
        self.metric = metric
        self.path = estimator
        self.fn = load_estimator(metric, estimator)
        self.decoder = decoder
        self._cache: dict[tuple[float, ...], float] = {}

    def __call__(self, X: Tensor) -> Tensor:
        """Estimates at ``X`` (``... x d``, the model's raw inputs), shape ``...``.

        The rule: at a point whose ordered dimensions (ordered choices, integer
        ranges) hold allowed values this is the estimator's value there. Between
        allowed values, where BoTorch's optimiser relaxes a dimension of many
        values to a continuous one, it is the linear interpolation of the
        estimates at the neighbouring allowed values over a simplex of the
        surrounding grid cell (Kuhn's triangulation: ``k + 1`` corners for
        ``k`` such dimensions), so the mean is continuous and has a gradient
        there instead of being flat with jumps.
        """
        grids = self.decoder.grids
        if not grids:
            return self._at(X)
        flat = X.reshape(-1, X.shape[-1])
        n = flat.shape[0]
        dims = list(grids)
        lo, hi = flat.detach().clone(), flat.detach().clone()
        weights = []
        for j in dims:
            grid = grids[j].to(flat)
            x = flat[:, j]
            top = torch.searchsorted(grid, x.detach().contiguous(), right=True)
            top = top.clamp(1, max(len(grid) - 1, 1))
            g_lo, g_hi = grid[top - 1], grid[top.clamp(max=len(grid) - 1)]
            span = (g_hi - g_lo).clamp(min=1e-12)
            weights.append(((x - g_lo) / span).clamp(0.0, 1.0))
            lo[:, j], hi[:, j] = g_lo, g_hi
        w = torch.stack(weights, dim=-1)  # n x k
        order = torch.argsort(w.detach(), dim=-1, descending=True)
        w_sorted = torch.gather(w, -1, order)
        rows = torch.arange(n, device=flat.device)
        cols = torch.tensor(dims, device=flat.device)[order]  # n x k
        corner = lo
        out = (1.0 - w_sorted[:, 0]) * self._at(corner)
        for m in range(len(dims)):
            corner = corner.clone()
            corner[rows, cols[:, m]] = hi[rows, cols[:, m]]
            nxt = w_sorted[:, m + 1] if m + 1 < len(dims) else 0.0
            out = out + (w_sorted[:, m] - nxt) * self._at(corner)
        return out.reshape(X.shape[:-1])

    def _at(self, X: Tensor) -> Tensor:
        """Estimates at ``X`` snapped to allowed values (cached), shape ``...``."""
        flat = X.detach().reshape(-1, X.shape[-1]).to("cpu", torch.double)
        # the key: the row rounded to 1e-9, built in torch (this runs on every
        # point the acquisition tries, k + 1 times; a Python loop per value
        # took about three times as long)
        keys = list(map(tuple, (torch.round(flat * 1e9) / 1e9).tolist()))
        missing = [i for i, k in enumerate(keys) if k not in self._cache]
        if missing:
            params = self.decoder.decode(flat[missing])
            for i, p in zip(missing, params, strict=True):
                self._cache[keys[i]] = self._call(p)
        out = torch.tensor([self._cache[k] for k in keys], dtype=X.dtype)
        return out.to(X.device).reshape(X.shape[:-1])

    def _call(self, params: dict[str, TParamValue]) -> float:
        try:
            value = float(self.fn(dict(params)))
        except Exception as exc:  # the user's function: name it and the arm
            raise KnownMetricError(
                f"known_metrics[{self.metric!r}]: {self.path} failed on {params}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if not math.isfinite(value):
            raise KnownMetricError(
                f"known_metrics[{self.metric!r}]: {self.path} returned {value} for "
                f"{params}; it must return a finite number."
            )
        return value


class KnownValueMean(Mean):
    """Prior mean ``slope * (estimate(x) - mu) / sd + constant``, both fitted."""

    def __init__(
        self,
        values: KnownValues,
        untransform: Callable[[Tensor], Tensor],
        mu: float,
        sd: float,
        slope: float = 1.0,
        constant: float = 0.0,
    ) -> None:
        super().__init__()
        self._values = values
        self._untransform = untransform
        self.mu, self.sd = mu, sd
        self.register_parameter("slope", torch.nn.Parameter(torch.tensor([slope])))
        self.register_parameter(
            "constant", torch.nn.Parameter(torch.tensor([constant]))
        )

    def forward(self, x: Tensor) -> Tensor:
        z = (self._values(self._untransform(x)) - self.mu) / self.sd
        return self.slope * z.to(self.slope) + self.constant


class KnownMeanGP(MixedSingleTaskGP):
    """A GP whose prior mean is a known estimate of its metric (see the module rule).

    With categorical inputs it is BoTorch's ``MixedSingleTaskGP`` (the kernel
    ``gp_moo`` uses by default), otherwise a ``SingleTaskGP``; only the mean
    differs.
    """

    def __init__(
        self,
        train_X: Tensor,
        train_Y: Tensor,
        known_metric: str,
        estimator: str,
        search_space: Any,
        feature_names: list[str],
        cat_dims: list[int] | None = None,
        train_Yvar: Tensor | None = None,
        likelihood: Any = None,
        outcome_transform: Any = None,
        input_transform: Any = None,
    ) -> None:
        kw: dict[str, Any] = {
            "likelihood": likelihood,
            "input_transform": input_transform,
        }
        if outcome_transform is not None:
            kw["outcome_transform"] = outcome_transform
        if cat_dims:
            super().__init__(train_X, train_Y, cat_dims, train_Yvar=train_Yvar, **kw)
        else:
            SingleTaskGP.__init__(self, train_X, train_Y, train_Yvar, **kw)
        if isinstance(search_space, Mapping):
            from ax.storage.json_store.decoder import object_from_json

            search_space = object_from_json(search_space)
        values = KnownValues(
            known_metric, estimator, ParameterDecoder(search_space, feature_names)
        )
        est = values(train_X)
        mu = float(est.mean())
        sd = float(est.std()) if est.numel() > 1 else 0.0
        sd = sd if sd > 0 and math.isfinite(sd) else 1.0
        z = (est - mu) / sd
        y = self.train_targets.detach().reshape(-1).to(z)
        slope, constant = _least_squares(z.reshape(-1), y)
        tf = self.input_transform if hasattr(self, "input_transform") else None

        def untransform(x: Tensor) -> Tensor:
            return tf.untransform(x) if tf is not None else x

        self.mean_module = KnownValueMean(values, untransform, mu, sd, slope, constant)
        self.to(train_X)

    @classmethod
    def construct_inputs(
        cls,
        training_data: SupervisedDataset,
        known_metric: str,
        estimator: str,
        search_space: Any,
        categorical_features: list[int] | None = None,
        likelihood: Any = None,
    ) -> dict[str, Any]:
        """Model inputs from Ax's dataset (the feature names come from it)."""
        # BoTorch's own parsing of X, Y and Yvar (skipping the mixed GP's, which
        # requires categorical features)
        inputs = super(MixedSingleTaskGP, cls).construct_inputs(training_data)
        return {
            **inputs,
            "known_metric": known_metric,
            "estimator": estimator,
            "search_space": search_space,
            "feature_names": list(training_data.feature_names),
            "cat_dims": list(categorical_features or []),
            "likelihood": likelihood,
        }


def _least_squares(z: Tensor, y: Tensor) -> tuple[float, float]:
    """Slope and intercept of ``y ~ z`` (slope 0 when ``z`` is constant)."""
    zc = z - z.mean()
    den = float((zc * zc).sum())
    slope = float((zc * (y - y.mean())).sum()) / den if den > 0 else 0.0
    return slope, float(y.mean()) - slope * float(z.mean())


def model_configs(
    preset: str,
    known_metrics: Mapping[str, str | Estimator] | None,
    experiment: Any,
    name_to_signature: dict[str, str] | None,
) -> dict[str, list[Any]]:
    """``metric_to_model_configs`` for Ax's ``SurrogateSpec`` (empty when none known).

    Checks every name (a metric of the optimization config when one is known;
    the configs are keyed by its signature) and every estimator (it must
    import); needs the experiment's search space.
    """
    from ax.generators.torch.botorch_modular.utils import ModelConfig
    from ax.storage.json_store.encoder import object_to_json

    from ax_nas_plugins.generation._common import PresetError, check_metric_names

    if not known_metrics:
        return {}
    if not isinstance(known_metrics, Mapping):
        raise PresetError(
            f"{preset}: known_metrics must map metric names to estimators "
            f"('package.module:function'), got {type(known_metrics).__name__}."
        )
    if experiment is None:
        raise PresetError(
            f"{preset}: known_metrics needs experiment= (its search space tells how "
            "to turn the model's inputs back into parameters)."
        )
    if name_to_signature is not None:
        check_metric_names(preset, "known_metrics", known_metrics, name_to_signature)
    ss_json = object_to_json(experiment.search_space)
    out: dict[str, list[Any]] = {}
    for metric, value in known_metrics.items():
        try:
            path = estimator_path(metric, value)
        except KnownMetricError as exc:
            raise PresetError(f"{preset}: {exc}") from exc
        signature = (name_to_signature or {}).get(metric, metric)
        out[signature] = [
            ModelConfig(
                botorch_model_class=KnownMeanGP,
                model_options={
                    "known_metric": metric,
                    "estimator": path,
                    "search_space": ss_json,
                },
                name=f"GP (known {metric})",
            )
        ]
    return out


def register_for_storage() -> None:
    """Make Ax's stores know :class:`KnownMeanGP` (idempotent)."""
    from ax.storage.botorch_modular_registry import register_model

    register_model(KnownMeanGP)


register_for_storage()
