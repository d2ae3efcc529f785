"""SAAS model fits on the same data: the pack's NUTS routine, BoTorch's, and MAP.

What it measures, on BraninCurrin embedded in ``--dims`` unit inputs (inputs 3
and 17 active), for a growing Sobol design (``--sizes`` points, one process,
fits in the order a growing experiment would run them), per outcome:

- **seconds** per fit (wall clock; the first fit of each method includes
  compiling NUTS unless JAX's persistent cache already holds it);
- **active found**: whether the two active inputs have the two largest
  (median) inverse squared lengthscales;
- **test RMSE** and **test NLL** of the posterior mean/variance on 256
  uniform test points (outcome standardised with the training mean and sd).

Methods: ``anp`` = :func:`ax_nas_plugins.generation._saas.fit_nas_saas`
(data as arguments, padded, compiled once per 16 rows); ``botorch`` =
BoTorch's ``fit_fully_bayesian_model_nuts`` (the model closure holds the data,
so NUTS is traced and compiled at every fit); ``map`` = BoTorch's
``EnsembleMapSaasSingleTaskGP`` (4 SAAS GPs with fixed global shrinkage, MAP
by L-BFGS). NUTS settings: ``--preset fast`` (128/64/8, depth 5) or ``full``
(512/256/16, depth 6).

Example::

    python benchmarks/saas_fit.py --dims 30 --sizes 12 16 20 24
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
ACTIVE = (3, 17)
NUTS = {
    "fast": {
        "warmup_steps": 128,
        "num_samples": 64,
        "thinning": 8,
        "max_tree_depth": 5,
    },
    "full": {
        "warmup_steps": 512,
        "num_samples": 256,
        "thinning": 16,
        "max_tree_depth": 6,
    },
}


def branincurrin(X: torch.Tensor) -> torch.Tensor:
    from botorch.test_functions.multi_objective import BraninCurrin

    return BraninCurrin().to(torch.double)(X[:, list(ACTIVE)])


def data(dims: int, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    from torch.quasirandom import SobolEngine

    X = SobolEngine(dims, scramble=True, seed=seed).draw(n).to(torch.double)
    return X, branincurrin(X)


def fit(method: str, X: torch.Tensor, y: torch.Tensor, nuts: dict, seed: int):
    """Fit one model of ``method`` to standardised ``y`` (n x 1)."""
    if method == "map":
        from botorch.fit import fit_gpytorch_mll
        from botorch.models.map_saas import EnsembleMapSaasSingleTaskGP
        from gpytorch.mlls import ExactMarginalLogLikelihood

        torch.manual_seed(seed)
        model = EnsembleMapSaasSingleTaskGP(X, y, outcome_transform=None)
        fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
        return model
    from ax_nas_plugins.generation._saas import NasSaasGP, fit_nas_saas

    model = NasSaasGP(X, y, outcome_transform=None)
    if method == "anp":
        fit_nas_saas(model, seed=seed, progress=False, **nuts)
    else:
        from botorch.fit import fit_fully_bayesian_model_nuts

        fit_fully_bayesian_model_nuts(model, disable_progbar=True, seed=seed, **nuts)
    return model


def inverse_lengthscales(model) -> np.ndarray:
    ls = model.covar_module.base_kernel.lengthscale.detach()
    return (1.0 / ls**2).reshape(-1, ls.shape[-1]).median(dim=0).values.numpy()


def evaluate(model, Xt: torch.Tensor, yt: torch.Tensor) -> tuple[float, float]:
    with torch.no_grad():
        post = model.posterior(Xt)
        mean = post.mixture_mean.squeeze(-1) if hasattr(post, "mixture_mean") else None
        var = post.mixture_variance.squeeze(-1) if mean is not None else None
        if mean is None:
            mean, var = post.mean.squeeze(-1), post.variance.squeeze(-1)
    y = yt.squeeze(-1)
    rmse = float(((mean - y) ** 2).mean().sqrt())
    var = var.clamp_min(1e-9)
    nll = float(
        (0.5 * (math.log(2 * math.pi) + var.log() + (y - mean) ** 2 / var)).mean()
    )
    return rmse, nll


def summarise(log: Path) -> str:
    """Markdown table by method and training size from the log (both outcomes)."""
    rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    lines = [
        "| method | NUTS | n | seconds per fit (branin, currin) | active inputs found "
        "| test RMSE (branin, currin) | test NLL (branin, currin) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    groups: dict[tuple[str, str, int], list[dict]] = {}
    for r in rows:
        groups.setdefault((r["method"], r["nuts"], r["n"]), []).append(r)
    for (method, nuts, n), rs in groups.items():
        rs = sorted(rs, key=lambda r: r["outcome"])

        def pair(field: str, fmt: str, rs: list[dict] = rs) -> str:
            return ", ".join(format(r[field], fmt) for r in rs)

        found = sum(r["active_found"] for r in rs)
        lines.append(
            f"| {method} | {nuts} | {n} | {pair('seconds', '.1f')} | "
            f"{found}/{len(rs)} | {pair('test_rmse', '.3f')} | "
            f"{pair('test_nll', '.2f')} |"
        )
    text = (
        f"# SAAS fits on the same data ({log.name})\n\n"
        "Machine: 2 CPU cores shared with six other jobs (load average 7 to 12), "
        f"no GPU, Python {platform.python_version()}, torch 1 thread; seconds "
        "are wall clock and pessimistic. BraninCurrin in 30 inputs (3 and 17 "
        "active), scrambled Sobol design, 256 uniform test points, outcomes "
        "standardised with the training mean and sd. The first fit of each "
        "padded size (16, 32 rows) of `anp` includes compiling NUTS; "
        "`botorch` compiles at every fit.\n\n" + "\n".join(lines) + "\n"
    )
    log.with_suffix(".md").write_text(text)
    return text


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dims", type=int, default=30)
    ap.add_argument("--sizes", type=int, nargs="+", default=[12, 16, 20, 24])
    ap.add_argument("--methods", nargs="+", default=["anp", "botorch", "map"])
    ap.add_argument("--preset", choices=sorted(NUTS), default="fast")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--log", type=Path, default=RESULTS / "saas_fit.jsonl")
    ap.add_argument("--summarise", action="store_true", help="only rebuild the table")
    args = ap.parse_args(argv)
    if args.summarise:
        print(summarise(args.log))
        return 0
    os.environ.setdefault("AX_NAS_PROGRESS", "0")
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    Xt = torch.rand(
        256, args.dims, generator=torch.Generator().manual_seed(99)
    ).double()
    Yt = branincurrin(Xt)
    X_all, Y_all = data(args.dims, max(args.sizes), args.seed)
    for method in args.methods:
        for n in args.sizes:
            X, Y = X_all[:n], Y_all[:n]
            for j, outcome in enumerate(("branin", "currin")):
                mu, sd = Y[:, j].mean(), Y[:, j].std()
                y = ((Y[:, j] - mu) / sd).unsqueeze(-1)
                yt = ((Yt[:, j] - mu) / sd).unsqueeze(-1)
                t = time.perf_counter()
                model = fit(method, X, y, NUTS[args.preset], args.seed)
                sec = time.perf_counter() - t
                inv = inverse_lengthscales(model)
                top2 = set(np.argsort(-inv)[:2].tolist())
                rmse, nll = evaluate(model, Xt, yt)
                row = {
                    "method": method,
                    "nuts": args.preset if method != "map" else "-",
                    "dims": args.dims,
                    "n": n,
                    "outcome": outcome,
                    "seconds": sec,
                    "active_found": top2 == set(ACTIVE),
                    "top2": sorted(top2),
                    "test_rmse": rmse,
                    "test_nll": nll,
                    "seed": args.seed,
                    "machine": f"2 shared cores, {platform.python_version()}",
                }
                print(json.dumps(row), flush=True)
                with open(args.log, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(row) + "\n")
    print(summarise(args.log))
    return 0


if __name__ == "__main__":
    sys.exit(main())
