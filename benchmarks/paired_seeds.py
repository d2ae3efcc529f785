"""Compare benchmark methods seed by seed: paired differences of the HV fraction.

The rule: two methods run on the same seed see the same problem and the same
initial Sobol points, so the difference per seed is far less noisy than the
difference of the two means. For each reference and each budget this prints
(and writes as Markdown) the target's mean ± sd on the seeds both have, the
reference's, the mean paired difference with its standard error (sd of the
differences over sqrt(n), ddof=1), and on how many seeds the target is higher.

A method is named ``LOG[,LOG...]:METHOD``: rows of that method in the given
``nas_bench_201.py`` logs (JSON lines), pooled, so that seeds run into
different files count together. When a seed has several rows, the one with the
largest budget wins (the last one among equals), as in ``--summarise``. A
log with several problems (``nas_bench_201.jsonl``) needs ``--problem``
(``nb201/cifar10``, ``branincurrin``, ...); the target and every reference
must be of one problem.

Example (the numbers of ``docs/generation_benchmarks.md``)::

    R=benchmarks/results
    M=saasbo_additive_acq100_r10
    python benchmarks/paired_seeds.py --at 30 50 \\
        --target $R/branincurrin_100d_r10_initial_trials.jsonl:${M}_init8 \\
        --against $R/branincurrin_100d_additive_acq100_r10.jsonl:$M \\
            $R/branincurrin_100d.jsonl,$R/branincurrin_100d_seeds5to9.jsonl:gp_moo
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # the sibling script, also when imported
    sys.path.insert(0, str(HERE))
import nas_bench_201 as nb  # noqa: E402


@dataclass(frozen=True)
class Comparison:
    """One target against one reference after ``at`` evaluations."""

    against: str
    at: int
    seeds: tuple[int, ...]
    target: tuple[float, ...]
    reference: tuple[float, ...]

    @property
    def diffs(self) -> list[float]:
        return [t - r for t, r in zip(self.target, self.reference, strict=True)]

    @property
    def higher(self) -> int:
        return sum(d > 0 for d in self.diffs)

    @property
    def standard_error(self) -> float:
        d = self.diffs
        return statistics.stdev(d) / math.sqrt(len(d)) if len(d) > 1 else math.nan


def parse_spec(spec: str) -> tuple[list[Path], str]:
    """``LOG[,LOG...]:METHOD`` -> (logs, method); the method follows the last colon."""
    logs, sep, method = spec.rpartition(":")
    if not sep or not logs or not method:
        raise SystemExit(f"expected LOG[,LOG...]:METHOD, got {spec!r}")
    paths = [Path(p) for p in logs.split(",")]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise SystemExit(f"{spec!r}: no such log file: {', '.join(missing)}")
    return paths, method


def problem_of(row: dict) -> str:
    """The problem a row was run on, with its input count when the log gives one.

    BraninCurrin rows are all ``"branincurrin"``; only ``dims`` (30, 100) tells
    the two embeddings apart, and they must not be paired. BraninCurrin rows
    written before ``dims`` was recorded are all of the 30-input default
    (``branincurrin_30d.jsonl`` and part of ``branincurrin_30d_v2.jsonl``).
    """
    dims = row.get("dims", 30 if row.get("problem") == "branincurrin" else None)
    name = str(row.get("problem"))
    return f"{name} ({dims} inputs)" if dims is not None else name


def runs(logs: list[Path], method: str, problem: str | None = None) -> list[dict]:
    """``method``'s rows in ``logs``, one per seed, all of one problem.

    One run per seed as ``nas_bench_201.py --summarise`` counts them
    (:func:`nas_bench_201._one_run_per_seed`: the largest budget wins, the
    later line among equals). A log can hold several problems
    (``nas_bench_201.jsonl`` has the three NAS-Bench-201 data sets), so rows of
    more than one problem are refused unless ``problem`` picks one.
    """
    rows = []
    for log in logs:
        for n, line in enumerate(log.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise SystemExit(f"{log}:{n}: not a JSON line ({exc})") from exc
            if row.get("method") == method and problem in (None, row.get("problem")):
                rows.append(row)
    where = f"in {', '.join(map(str, logs))}"
    if not rows:
        of = f" of problem {problem!r}" if problem else ""
        raise SystemExit(f"no rows of method {method!r}{of} {where}")
    problems = sorted({problem_of(r) for r in rows})
    if len(problems) > 1:
        raise SystemExit(
            f"rows of method {method!r} {where} are of several problems "
            f"({', '.join(problems)}); pick one with --problem, and keep logs of "
            "different input counts apart"
        )
    return nb._one_run_per_seed(rows)


def curves(rows: list[dict]) -> dict[int, dict[str, float]]:
    """Seed -> HV curve (evaluations as strings -> HV fraction) of one run per seed."""
    out = {}
    for row in rows:
        curve = dict(row.get("hv_curve") or {})
        curve.setdefault(str(row["budget"]), row["hv_fraction"])
        out[row["seed"]] = curve
    return out


def hv_by_seed(
    logs: list[Path], method: str, problem: str | None = None
) -> dict[int, dict[str, float]]:
    """Seed -> HV curve of ``method``'s runs in ``logs`` (see :func:`runs`)."""
    return curves(runs(logs, method, problem))


def compare(
    target: dict[int, dict[str, float]],
    reference: dict[int, dict[str, float]],
    against: str,
    at: int,
) -> Comparison | None:
    """The paired comparison on the seeds both have a value for after ``at``."""
    key = str(at)
    seeds = tuple(
        s for s in sorted(target) if key in target[s] and key in reference.get(s, {})
    )
    if not seeds:
        return None
    return Comparison(
        against,
        at,
        seeds,
        tuple(target[s][key] for s in seeds),
        tuple(reference[s][key] for s in seeds),
    )


def _mean_sd(values: tuple[float, ...]) -> str:
    return f"{statistics.fmean(values):.3f} ± {statistics.pstdev(values):.3f}"


def table(name: str, comparisons: list[Comparison]) -> str:
    """Markdown table of the comparisons (sd over seeds in population form)."""
    lines = [
        f"Target: `{name}`. Difference = target - reference on the same seed; SE = "
        "sd of the differences (ddof=1) / sqrt(seeds).",
        "",
        "| after | against | seeds | target | reference | difference (SE) "
        "| target higher |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for c in comparisons:
        lines.append(
            f"| {c.at} | `{c.against}` | {', '.join(map(str, c.seeds))} | "
            f"{_mean_sd(c.target)} | {_mean_sd(c.reference)} | "
            f"{round(statistics.fmean(c.diffs), 3) + 0.0:+.3f} "
            f"({c.standard_error:.3f}) | "
            f"{c.higher} of {len(c.seeds)} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--target", required=True, help="LOG[,LOG...]:METHOD")
    ap.add_argument("--against", required=True, nargs="+", help="LOG[,LOG...]:METHOD")
    ap.add_argument("--at", type=int, nargs="+", required=True, help="evaluations")
    ap.add_argument("--out", type=Path, default=None, help="also write the table here")
    ap.add_argument(
        "--problem",
        default=None,
        help="only rows of this problem (e.g. nb201/cifar100); needed when a log "
        "holds several",
    )
    args = ap.parse_args(argv)
    logs, name = parse_spec(args.target)
    target_runs = runs(logs, name, args.problem)
    problem = problem_of(target_runs[0])
    target = curves(target_runs)
    comparisons = []
    for spec in args.against:
        ref_logs, ref_name = parse_spec(spec)
        ref_runs = runs(ref_logs, ref_name, args.problem)
        ref_problem = problem_of(ref_runs[0])
        if ref_problem != problem:
            raise SystemExit(
                f"{spec!r} is of problem {ref_problem!r}, the target of {problem!r}; "
                "pick one with --problem"
            )
        reference = curves(ref_runs)
        for at in args.at:
            c = compare(target, reference, ref_name, at)
            if c is None:
                print(
                    f"note: no seed of {name!r} and {ref_name!r} has a value after {at}"
                )
            else:
                comparisons.append(c)
    text = table(name, comparisons)
    print(text)
    if args.out is not None:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
