"""SAAS fully Bayesian GP whose NUTS fit reports progress and can start warm.

The rule: :class:`NasSaasGP` is BoTorch's ``SaasFullyBayesianSingleTaskGP``
(same SAAS prior, same likelihood, same posterior) with its own fitting
routine registered in Ax's ``fit_botorch_model`` dispatcher. The routine runs
NumPyro's NUTS like BoTorch's ``fit_fully_bayesian_model_nuts``
(``warmup_steps`` burn-in steps, ``num_samples`` draws, every ``thinning``-th
kept) on BoTorch's own ``SaasPyroModel.sample``, but

- passes the training data as *arguments* of the compiled NUTS program,
  padded to a multiple of :data:`PAD_ROWS` rows (padded rows are masked out of
  the likelihood, see :class:`MaskedSaasPyroModel`), so the program is the
  same from fit to fit while an experiment grows. BoTorch's routine bakes the
  data into the program, which is then recompiled at every fit. With JAX's
  persistent compilation cache (the ``jax_cache_dir`` option, off by default)
  a fit compiles once per 16 points, even across processes;
  ``benchmarks/saas_fit.py`` measures both routines on the same data;
- reports through the pack's progress display (:mod:`ax_nas_plugins.progress`)
  instead of NumPyro's printed bar: one task per outcome model;
- with ``warm_start=True`` starts the chain at the posterior median of the
  previous fit of the same outcome (same input dimension, same
  ``warm_start_key``) found in this process. The first fit, or one after a
  restart, starts cold.

Nothing here changes process-wide state for longer than a fit unless asked:
JAX's persistent cache is turned on only by ``jax_cache_dir`` (see
:func:`fit_nas_saas`); the one exception, bounding memory, is
:data:`CLEAR_JAX_CACHES_EVERY`. During a fit every BLAS library of the
process runs one thread (``blas_threads``, see :func:`blas_threads_limited`),
and gets its thread count back afterwards. The class
is registered with Ax's model registry so a generation strategy that names it
is stored and loaded like one naming BoTorch's class. Importing this module
does not import JAX (a stored strategy loads without the ``saasbo`` extra).
"""

from __future__ import annotations

import itertools
import threading
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from ax.generators.torch.botorch_modular.utils import fit_botorch_model
from botorch.models.fully_bayesian import SaasFullyBayesianSingleTaskGP, SaasPyroModel

from ax_nas_plugins import _compat
from ax_nas_plugins.generation._onehot import SAAS_FIDELITY_ERROR, OneHotEncodedInputs
from ax_nas_plugins.progress import progress_task

#: Previous posterior medians: (warm_start_key, input dim, outcome fingerprint).
_WARM: dict[tuple[str, int, tuple[float, ...]], dict[str, Any]] = {}
_WARM_MAX = 64
_warm_lock = threading.Lock()
#: Training sets are padded to a multiple of this many rows, so that NUTS is
#: compiled once per bucket and reused while the experiment grows.
PAD_ROWS = 16
#: The SAAS model's latent sample sites (what a warm start sets).
_LATENT_SITES = (
    "outputscale",
    "mean",
    "noise",
    "kernel_tausq",
    "_kernel_inv_length_sq",
)
#: Options that strategies stored by ax-nas-plugins 0.1 carry and that no longer
#: mean anything (``jit_compile`` was never honoured; NumPyro's bar is never shown).
_RETIRED_OPTIONS = ("jit_compile", "disable_progbar")
#: JAX keeps the traced programs of every fit in memory (about 70 MB per fit of
#: 30 inputs: NumPyro builds new closures per fit); a run crashed with "LLVM
#: ERROR: Unable to allocate section memory" after about 60 fits. So every this
#: many fits, JAX's in-memory caches are cleared (``jax.clear_caches``, public:
#: other JAX code of the process recompiles on its next call, nothing else
#: changes). The one deliberate process-wide effect of a fit.
CLEAR_JAX_CACHES_EVERY = 16
_fit_count = itertools.count(1)


class NasSaasGP(OneHotEncodedInputs, SaasFullyBayesianSingleTaskGP):
    """SAAS GP (BoTorch's) fitted with a progress display and optional warm starts.

    Its inputs arrive one-hot encoded by ``CategoricalOneHot``, so Ax's
    ``categorical_features`` list is dropped; fidelity features are refused
    (the SAAS model has no fidelity kernel).
    """

    fidelity_error = SAAS_FIDELITY_ERROR


class MaskedSaasPyroModel(SaasPyroModel):
    """BoTorch's SAAS model whose likelihood covers only the rows of ``row_mask``.

    The prior, kernel and noise are BoTorch's (``SaasPyroModel.sample``); only
    the observation step is replaced. A padded row (mask 0) gets zero mean,
    unit variance and no covariance with any other row, and its observation
    is 0, so it adds a constant to the log density and changes neither the
    posterior nor its gradients. The data are set as JAX values (possibly
    traced) on a fresh instance per model call, the attributes BoTorch's
    ``set_inputs`` sets.
    """

    row_mask: Any = None

    def sample_observations(self, mean: Any, K_noiseless: Any, noise: Any) -> None:
        import jax.numpy as jnp
        import numpyro
        import numpyro.distributions as dist

        mask = self.row_mask
        n = mask.shape[0]
        k = K_noiseless + noise * jnp.eye(n)
        k = k * (mask[:, None] * mask[None, :]) + jnp.diag(1.0 - mask)
        numpyro.sample(
            "Y",
            dist.MultivariateNormal(loc=mean * mask, covariance_matrix=k),
            obs=self.train_Y_jax[:, 0] * mask,
        )


def _saas_model_inferred_noise(X: Any, Y: Any, mask: Any, Yvar: Any) -> None:
    """NumPyro model: the SAAS GP on padded data, noise inferred."""
    del Yvar
    _masked_view(X, Y, mask, None).sample()


def _saas_model_known_noise(X: Any, Y: Any, mask: Any, Yvar: Any) -> None:
    """NumPyro model: the SAAS GP on padded data, noise variances given."""
    _masked_view(X, Y, mask, Yvar[:, None]).sample()


def _masked_view(X: Any, Y: Any, mask: Any, Yvar: Any) -> MaskedSaasPyroModel:
    view = MaskedSaasPyroModel()
    view.ard_num_dims = X.shape[-1]
    view.train_X_jax, view.train_Y_jax, view.train_Yvar_jax = X, Y[:, None], Yvar
    view.row_mask = mask
    return view


@dataclass(frozen=True)
class _PaddedData:
    """The training data as NUMPyro model arguments, padded to ``PAD_ROWS`` rows."""

    args: tuple[Any, ...]  # X, Y, mask, Yvar (JAX arrays)
    n: int
    dim: int
    known_noise: bool


def _pad(pyro_model: SaasPyroModel) -> _PaddedData:
    import jax.numpy as jnp
    import numpy as np

    X = pyro_model.train_X.detach().cpu().numpy().astype(np.float64)
    Y = pyro_model.train_Y.detach().cpu().numpy().astype(np.float64)[:, 0]
    n, dim = X.shape
    rows = max(PAD_ROWS, -(-n // PAD_ROWS) * PAD_ROWS)
    Xp, Yp, mask, Yvar = (
        np.zeros((rows, dim)),
        np.zeros(rows),
        np.zeros(rows),
        np.ones(rows),
    )
    Xp[:n], Yp[:n], mask[:n] = X, Y, 1.0
    known_noise = pyro_model.train_Yvar is not None
    if known_noise:
        Yvar[:n] = pyro_model.train_Yvar.detach().cpu().numpy()[:, 0]
    args = tuple(jnp.asarray(a) for a in (Xp, Yp, mask, Yvar))
    return _PaddedData(args=args, n=n, dim=dim, known_noise=known_noise)


def _outcome_fingerprint(model: NasSaasGP) -> tuple[float, ...]:
    """The first raw outcome values: the same outcome across fits, as data only grows.

    Ax orders observations by trial, so the first points of an outcome stay
    first while new ones are appended; standardisation is undone because its
    mean and scale change with every new point.
    """
    y = model.pyro_model.train_Y[:3].detach()
    tf = getattr(model, "outcome_transform", None)
    if tf is not None:
        y, _ = tf.untransform(y)
    return tuple(round(float(v), 9) for v in y.flatten())


def _remembered_start(key: tuple[Any, ...]) -> dict[str, Any] | None:
    with _warm_lock:
        return _WARM.get(key)


def _remember_start(key: tuple[Any, ...], raw: dict[str, Any]) -> None:
    """Keep the posterior medians of the latent sites for the next fit's start."""
    import jax.numpy as jnp

    medians = {k: jnp.median(v, axis=0) for k, v in raw.items() if k in _LATENT_SITES}
    with _warm_lock:
        if len(_WARM) >= _WARM_MAX:
            _WARM.pop(next(iter(_WARM)))
        _WARM[key] = medians


def _sample_posterior(
    data: _PaddedData,
    *,
    start: dict[str, Any] | None,
    warmup_steps: int,
    num_samples: int,
    max_tree_depth: int,
    seed: int,
    progress: bool | None,
) -> dict[str, Any]:
    """NUTS draws of the latent sites (BoTorch's kernel settings: dense mass)."""
    import jax
    from numpyro.infer import MCMC, NUTS, init_to_median, init_to_value

    model = _saas_model_known_noise if data.known_noise else _saas_model_inferred_noise
    nuts = NUTS(
        model,
        dense_mass=True,
        max_tree_depth=max_tree_depth,
        init_strategy=init_to_value(values=start) if start else init_to_median,
    )
    mcmc = MCMC(
        nuts,
        num_warmup=warmup_steps,
        num_samples=num_samples,
        progress_bar=False,
        jit_model_args=True,
    )
    with progress_task(
        f"SAAS fit ({data.n} points, {data.dim} inputs)",
        total=warmup_steps + num_samples,
        enabled=progress,
    ) as advance:
        mcmc.warmup(jax.random.PRNGKey(seed), *data.args)
        advance(warmup_steps)
        mcmc.run(mcmc.post_warmup_state.rng_key, *data.args)
        advance(num_samples)
    return dict(mcmc.get_samples())


def fit_nas_saas(
    model: NasSaasGP,
    warmup_steps: int = 512,
    num_samples: int = 256,
    thinning: int = 16,
    max_tree_depth: int = 6,
    seed: int = 0,
    warm_start: bool = False,
    warm_start_key: str = "",
    progress: bool | None = None,
    jax_cache_dir: str | None = None,
    blas_threads: int | None = 1,
) -> None:
    """Fit ``model`` by NUTS on the padded data (see the module rule).

    Args:
        model: The SAAS GP to fit.
        warmup_steps: NUTS burn-in steps (step size and mass matrix adaptation).
        num_samples: Draws after warm-up.
        thinning: Keep every ``thinning``-th draw (``num_samples // thinning`` kept).
        max_tree_depth: Largest NUTS tree depth (2**depth leapfrog steps at most).
        seed: Seed of the JAX random key.
        warm_start: Start at the previous fit's posterior median when available.
        warm_start_key: Separates warm-start memories of different strategies.
        progress: Force the progress display on/off (default: automatic).
        jax_cache_dir: Turn on JAX's persistent compilation cache in this folder
            (``~`` expanded) before fitting, unless a cache folder is already
            configured. This is process-wide and lasts for the process: JAX
            initialises its cache once and has no public way to turn it off.
            While such a fit runs, XLA's C++ log is errors-only-fatal (each
            program loaded from the cache logs a spurious "machine type"
            error). ``None`` (default): JAX's configuration is left alone.
        blas_threads: Most threads of each BLAS library (OpenBLAS, MKL) while
            the fit runs, then back to what they were (``threadpoolctl``);
            ``None``: left alone. See :func:`blas_threads_limited`.
    """
    model.train()
    pm = model.pyro_model
    if pm.use_input_warping:
        raise ValueError("NasSaasGP does not support input warping.")
    quiet: Any = nullcontext()
    if jax_cache_dir is not None:
        use_jax_compilation_cache(jax_cache_dir)
        quiet = _compat.quiet_xla_log()  # cache loads log spurious XLA errors
    if next(_fit_count) % CLEAR_JAX_CACHES_EVERY == 0:
        import jax

        jax.clear_caches()
    data = _pad(pm)
    key = (warm_start_key, data.dim, _outcome_fingerprint(model))
    with quiet, blas_threads_limited(blas_threads):
        raw = _sample_posterior(
            data,
            start=_remembered_start(key) if warm_start else None,
            warmup_steps=warmup_steps,
            num_samples=num_samples,
            max_tree_depth=max_tree_depth,
            seed=seed,
            progress=progress,
        )
    if warm_start:
        _remember_start(key, raw)
    samples = pm.postprocess_mcmc_samples(mcmc_samples=raw)
    model.load_mcmc_samples({k: v[::thinning] for k, v in samples.items()})
    model.eval()


def blas_threads_limited(threads: int | None) -> Any:
    """A context in which every loaded BLAS library runs at most ``threads`` threads.

    The rule: ``None`` changes nothing; otherwise ``threadpoolctl`` caps the
    thread count of every BLAS library loaded in the process for the length
    of the block (all threads of the process see the cap) and restores it
    after. SciPy's BLAS is loaded first: JAX's CPU kernels for the Cholesky
    factor and triangular solves of a GP call it.

    Why: OpenBLAS's worker threads wait for work by spinning. When another
    busy process shares the cores (a second experiment, a training job of a
    local runner), a spinning thread holds a core that the thread it waits
    for needs, and a full-NUTS fit that takes 9 s alone took 270-290 s
    (``benchmarks/saas_fit_sharing.py``). The matrices of a SAAS fit are
    small (one row per trial), too small for a second BLAS thread to help.
    """
    if threads is None:
        return nullcontext()
    import scipy.linalg  # noqa: F401  (loads the BLAS that JAX's kernels call)
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=threads, user_api="blas")


def use_jax_compilation_cache(folder: str) -> str:
    """Turn on JAX's persistent compilation cache in ``folder`` (process-wide).

    The rule: a cache folder already configured (by the user, or by an earlier
    call) is kept and returned; otherwise ``folder`` (``~`` expanded) is
    created and set, with no minimum compile time or entry size, so that every
    NUTS program is kept. JAX initialises its cache once per process, so this
    cannot be undone; it is therefore only done when asked for.
    """
    import os

    import jax

    if jax.config.jax_compilation_cache_dir:
        return jax.config.jax_compilation_cache_dir
    folder = os.path.expanduser(folder)
    os.makedirs(folder, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", folder)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return folder


@fit_botorch_model.register(NasSaasGP)
def _fit_nas_saas(
    model: NasSaasGP,
    mll_class: Any,
    mll_options: dict[str, Any] | None = None,
) -> None:
    del mll_class  # NUTS samples the SAAS posterior; there is no MLL to optimise
    options = {
        k: v for k, v in (mll_options or {}).items() if k not in _RETIRED_OPTIONS
    }
    fit_nas_saas(model, **options)


def register_for_storage() -> None:
    """Make Ax's JSON and SQL stores know :class:`NasSaasGP` (idempotent)."""
    from ax.storage.botorch_modular_registry import register_model

    register_model(NasSaasGP)


register_for_storage()
