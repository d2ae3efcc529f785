"""SAAS fully Bayesian GP whose NUTS fit reports progress and can start warm.

The rule: :class:`NasSaasGP` is BoTorch's ``SaasFullyBayesianSingleTaskGP``
(same SAAS prior, same posterior) with its own fitting routine registered in
Ax's ``fit_botorch_model`` dispatcher. The routine runs NumPyro's NUTS like
BoTorch's ``fit_fully_bayesian_model_nuts`` (``warmup_steps`` burn-in steps,
``num_samples`` draws, every ``thinning``-th kept) but

- reports through the pack's progress display (:mod:`ax_nas_plugins.progress`)
  instead of NumPyro's printed bar: one task per outcome model, advanced by the
  warm-up and then by chunks of draws;
- with ``warm_start=True`` starts the chain at the posterior median of the
  previous fit of the same outcome (same input dimension, same
  ``warm_start_key``) found in this process, which lets a shorter warm-up reach
  the typical set. The first fit, or one after a restart, starts cold.

The class is registered with Ax's model registry so a generation strategy that
names it is stored and loaded like one naming BoTorch's class.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ax.generators.torch.botorch_modular.utils import fit_botorch_model
from botorch.models.fully_bayesian import SaasFullyBayesianSingleTaskGP

from ax_nas_plugins.progress import progress_task

#: Previous posterior medians: (warm_start_key, input dim, outcome fingerprint).
_WARM: dict[tuple[str, int, tuple[float, ...]], dict[str, Any]] = {}
_WARM_MAX = 64
_warm_lock = threading.Lock()
_OUR_CACHE = [False]  # whether enable_compilation_cache turned the cache on
#: JAX keeps every fit's traced programs in memory (about 70 MB per fit of 30
#: inputs); its caches are cleared every this many fits, which costs one
#: reload from the persistent cache (a few seconds) and bounds the growth.
CLEAR_JAX_CACHES_EVERY = 16
_fits_done = [0]


class NasSaasGP(SaasFullyBayesianSingleTaskGP):
    """SAAS GP (BoTorch's) fitted with a progress display and optional warm starts."""

    @classmethod
    def construct_inputs(
        cls,
        training_data: Any,
        *,
        categorical_features: list[int] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """BoTorch's inputs; categorical columns are the input transform's business.

        Ax hands ``categorical_features`` to every model; this model receives
        them one-hot encoded by ``CategoricalOneHot`` and so ignores the list.
        Fidelity features are refused: the SAAS model has no fidelity kernel.
        """
        del categorical_features
        if kwargs.pop("fidelity_features", None):
            raise ValueError(
                "The SAAS presets do not support fidelity parameters; "
                "use a multi-fidelity generation strategy instead."
            )
        return super().construct_inputs(training_data=training_data, **kwargs)


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


#: Training sets are padded to a multiple of this many rows, so that NUTS is
#: compiled once per bucket and reused while the experiment grows.
PAD_ROWS = 16


def _padded_saas(pyro_model: Any, dim: int, known_noise: bool) -> Any:
    """SAAS prior and likelihood with the data as arguments (padded rows masked).

    The prior is BoTorch's ``SaasPyroModel`` (its own sampling methods are
    called); the likelihood is the same multivariate normal over the real
    rows. A padded row has zero mean, unit variance and no covariance with
    any other row, and its observation is 0, so it adds a constant to the log
    density and changes neither the posterior nor its gradients.
    """
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist
    from botorch.models.fully_bayesian import matern52_kernel

    def model(X: Any, Y: Any, mask: Any, Yvar: Any) -> None:
        outputscale = pyro_model.sample_outputscale(
            concentration=pyro_model._outputscale_prior_concentration,
            rate=pyro_model._outputscale_prior_rate,
        )
        mean = pyro_model.sample_mean()
        noise = Yvar if known_noise else pyro_model.sample_noise()
        lengthscale = pyro_model.sample_lengthscale(dim=dim)
        k = outputscale * matern52_kernel(X=X, lengthscale=lengthscale)
        n = X.shape[0]
        k = k + noise * jnp.eye(n)
        both = mask[:, None] * mask[None, :]
        k = k * both + jnp.diag(1.0 - mask)
        numpyro.sample(
            "Y",
            dist.MultivariateNormal(loc=mean * mask, covariance_matrix=k),
            obs=Y * mask,
        )

    return model


def enable_compilation_cache() -> str | None:
    """Turn on JAX's persistent compilation cache unless the user configured one.

    NumPyro builds new closures for every fit, so JAX's in-memory cache never
    hits and each fit would recompile NUTS (about 15 s of a 20 s fit on two
    cores). The persistent cache is keyed by the compiled program, which is the
    same from fit to fit because the data are arguments of fixed (padded)
    shape. The folder is ``$AX_NAS_JAX_CACHE`` or
    ``~/.cache/ax_nas_plugins/jax``; ``AX_NAS_JAX_CACHE=off`` disables it.
    """
    import jax

    if jax.config.jax_compilation_cache_dir:
        return jax.config.jax_compilation_cache_dir  # the user's (or ours, set before)
    folder = os.environ.get("AX_NAS_JAX_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"),
        "ax_nas_plugins",
        "jax",
    )
    if folder.lower() == "off":
        return None
    os.makedirs(folder, exist_ok=True)
    # Every program later loaded from this cache makes XLA:CPU log a spurious
    # "machine type doesn't match" error (also for the small programs BoTorch
    # runs outside the fit), so XLA's C++ log keeps errors-only-fatal from now on.
    _set_xla_log_level(3)
    jax.config.update("jax_compilation_cache_dir", folder)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    _OUR_CACHE[0] = True
    return folder


def _set_xla_log_level(level: int) -> bool:
    try:
        from jax._src.lib import utils as jax_utils

        jax_utils.absl_set_min_log_level(level)
    except (ImportError, AttributeError):  # another jaxlib: leave logging alone
        return False
    return True


@contextmanager
def _quiet_xla_cache_loads() -> Iterator[None]:
    """Silence XLA's C++ log while a fit runs, then restore the process's level.

    XLA:CPU logs a spurious "machine type used for compilation doesn't match"
    error for every program it loads from the persistent cache, even on the
    machine that compiled it; hundreds of such lines per fit are noise.
    """
    if jax_cache_is_ours() or not _set_xla_log_level(3):
        yield
        return
    try:
        yield
    finally:
        _set_xla_log_level(int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "1")))


def jax_cache_is_ours() -> bool:
    return _OUR_CACHE[0]


def fit_nas_saas(
    model: NasSaasGP,
    warmup_steps: int = 512,
    num_samples: int = 256,
    thinning: int = 16,
    max_tree_depth: int = 6,
    jit_compile: bool = False,
    seed: int = 0,
    warm_start: bool = False,
    warm_start_key: str = "",
    progress: bool | None = None,
    disable_progbar: bool = True,  # accepted for Ax's default, never printed
) -> None:
    """Fit ``model`` by NUTS (see the module rule for what differs from BoTorch).

    The NUTS kernel is compiled with the training data as arguments, padded to
    a multiple of :data:`PAD_ROWS` rows, so a growing experiment recompiles
    once every ``PAD_ROWS`` points instead of at every fit.

    Args:
        model: The SAAS GP to fit.
        warmup_steps: NUTS burn-in steps (step size and mass matrix adaptation).
        num_samples: Draws after warm-up.
        thinning: Keep every ``thinning``-th draw (``num_samples // thinning`` kept).
        max_tree_depth: Largest NUTS tree depth (2**depth leapfrog steps at most).
        jit_compile: Accepted for BoTorch compatibility; the kernel is always
            compiled (with the data as arguments).
        seed: Seed of the JAX random key.
        warm_start: Start at the previous fit's posterior median when available.
        warm_start_key: Separates warm-start memories of different strategies.
        progress: Force the progress display on/off (default: automatic).
        disable_progbar: Ignored (NumPyro's own bar is always off).
    """
    del disable_progbar, jit_compile
    enable_compilation_cache()
    with _quiet_xla_cache_loads():
        _fits_done[0] += 1
        if _fits_done[0] % CLEAR_JAX_CACHES_EVERY == 0:
            import jax

            jax.clear_caches()
        _run_nuts(
            model,
            warmup_steps=warmup_steps,
            num_samples=num_samples,
            thinning=thinning,
            max_tree_depth=max_tree_depth,
            seed=seed,
            warm_start=warm_start,
            warm_start_key=warm_start_key,
            progress=progress,
        )


def _run_nuts(
    model: NasSaasGP,
    *,
    warmup_steps: int,
    num_samples: int,
    thinning: int,
    max_tree_depth: int,
    seed: int,
    warm_start: bool,
    warm_start_key: str,
    progress: bool | None,
) -> None:
    import jax
    import jax.numpy as jnp
    import numpy as np
    from numpyro.infer import MCMC, NUTS, init_to_median, init_to_value

    model.train()
    pm = model.pyro_model
    if pm.use_input_warping:
        raise ValueError("NasSaasGP does not support input warping.")
    X = np.asarray(pm.train_X.detach().cpu().numpy(), dtype=np.float64)
    Y = np.asarray(pm.train_Y.detach().cpu().numpy(), dtype=np.float64)[:, 0]
    n, dim = X.shape
    rows = max(PAD_ROWS, -(-n // PAD_ROWS) * PAD_ROWS)
    Xp = np.zeros((rows, dim))
    Xp[:n] = X
    Yp = np.zeros(rows)
    Yp[:n] = Y
    mask = np.zeros(rows)
    mask[:n] = 1.0
    known_noise = pm.train_Yvar is not None
    Yvar = np.ones(rows)
    if known_noise:
        Yvar[:n] = np.asarray(pm.train_Yvar.detach().cpu().numpy())[:, 0]
    args = tuple(jnp.asarray(a) for a in (Xp, Yp, mask, Yvar))

    key = (warm_start_key, dim, _outcome_fingerprint(model))
    init_strategy = init_to_median
    with _warm_lock:
        previous = _WARM.get(key) if warm_start else None
    if previous is not None:
        init_strategy = init_to_value(values=previous)
    nuts = NUTS(
        _padded_saas(pm, dim, known_noise),
        dense_mass=True,
        max_tree_depth=max_tree_depth,
        init_strategy=init_strategy,
    )
    mcmc = MCMC(
        nuts,
        num_warmup=warmup_steps,
        num_samples=num_samples,
        progress_bar=False,
        jit_model_args=True,
    )
    rng = jax.random.PRNGKey(seed)
    with progress_task(
        f"SAAS fit ({n} points, {dim} inputs)",
        total=warmup_steps + num_samples,
        enabled=progress,
    ) as advance:
        mcmc.warmup(rng, *args)
        advance(warmup_steps)
        mcmc.run(mcmc.post_warmup_state.rng_key, *args)
        advance(num_samples)
    raw = dict(mcmc.get_samples())
    if warm_start:
        medians = {
            k: jnp.median(v, axis=0)
            for k, v in raw.items()
            if k
            in ("outputscale", "mean", "noise", "kernel_tausq", "_kernel_inv_length_sq")
        }
        with _warm_lock:
            if len(_WARM) >= _WARM_MAX:
                _WARM.pop(next(iter(_WARM)))
            _WARM[key] = medians
    samples = pm.postprocess_mcmc_samples(mcmc_samples=raw)
    for k, v in samples.items():
        samples[k] = v[::thinning]
    model.load_mcmc_samples(samples)
    model.eval()


@fit_botorch_model.register(NasSaasGP)
def _fit_nas_saas(
    model: NasSaasGP,
    mll_class: Any,
    mll_options: dict[str, Any] | None = None,
) -> None:
    del mll_class  # NUTS samples the SAAS posterior; there is no MLL to optimise
    fit_nas_saas(model, **(mll_options or {}))


def register_for_storage() -> None:
    """Make Ax's JSON and SQL stores know :class:`NasSaasGP` (idempotent)."""
    from ax.storage.botorch_modular_registry import register_model

    register_model(NasSaasGP)


register_for_storage()
