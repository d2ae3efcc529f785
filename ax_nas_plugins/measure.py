"""Trainer-side helpers: latency, parameter count and size of a model, to TensorBoard.

This module runs inside the training job: it imports neither Ax, BoTorch nor
the plugin registry, and torch only when a function is called. The values go
to TensorBoard under the tags that the ``latency``, ``num_params`` and
``model_size_bytes`` metrics read.

Latency is only meaningful on the hardware you deploy to (same CPU or GPU
model, same thread count, same batch size): measure it there, not on the
training machine, or treat it as a relative number.

Example::

    from ax_nas_plugins import measure

    stats = measure.log_model_stats("runs/trial_3", model, example_input)
    stats["latency_ms"], stats["num_params"]
"""

from __future__ import annotations

import os
import platform
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

#: Tags read by the pack's metrics (``latency``, ``num_params``, ``model_size_bytes``).
LATENCY_TAG = "latency_ms"
LATENCY_P90_TAG = "latency_p90_ms"
NUM_PARAMS_TAG = "num_params"
MODEL_SIZE_TAG = "model_size_bytes"


CLOCKS = ("wall", "thread_cpu")


class MeasureError(ValueError):
    """An argument of a measuring helper that is not allowed."""


@dataclass(frozen=True)
class LatencyResult:
    """One latency measurement (times in milliseconds per call of the model).

    Attributes:
        median_ms: Median over the timed blocks.
        p90_ms: 90th percentile over the timed blocks.
        mean_ms: Mean over the timed blocks.
        iqr_ms: Interquartile range over the timed blocks.
        blocks: Number of timed blocks.
        calls_per_block: Model calls per block (each block's time is their mean).
        warmup: Untimed calls made first.
        device: Where the model ran (``cpu``, ``cuda:0``, ...).
        device_name: CPU or GPU model, as far as it can be told.
        num_threads: torch intra-op threads during the timing.
        torch_version: torch's version.
        clock: ``wall`` or ``thread_cpu``.
        min_ms: Fastest timed block.
    """

    median_ms: float
    p90_ms: float
    mean_ms: float
    iqr_ms: float
    blocks: int
    calls_per_block: int
    warmup: int
    device: str
    device_name: str
    num_threads: int
    torch_version: str
    clock: str = "wall"
    min_ms: float = float("nan")
    times_ms: list[float] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-friendly dict (for logs and run metadata)."""
        return asdict(self)


def _model_device(model: torch.nn.Module) -> torch.device:
    import torch

    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return torch.device("cpu")


def _device_name(device: torch.device) -> str:
    import torch

    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return name


def _to_device(example: Any, device: torch.device) -> Any:
    import torch

    if isinstance(example, torch.Tensor):
        return example.to(device)
    if isinstance(example, tuple | list):
        return type(example)(_to_device(e, device) for e in example)
    if isinstance(example, dict):
        return {k: _to_device(v, device) for k, v in example.items()}
    return example


def measure_latency(
    model: torch.nn.Module,
    example_input: Any,
    *,
    warmup: int = 10,
    min_run_time: float = 1.0,
    num_threads: int | None = None,
    device: str | None = None,
    clock: str = "wall",
) -> LatencyResult:
    """Inference latency of ``model(example_input)``: warm-up, then timed blocks.

    The rule: the model is put in eval mode under ``torch.inference_mode``,
    called ``warmup`` times untimed (caches, allocator, lazy init), then timed
    with ``torch.utils.benchmark.Timer.blocked_autorange`` for at least
    ``min_run_time`` seconds: each block runs the model enough times to
    outlast timer noise, and the block means give the median and 90th
    percentile. CUDA is synchronised by the timer. The model's training
    mode is restored afterwards. A tuple or list input is unpacked into
    positional arguments, a dict into keyword arguments.

    ``clock="wall"`` (default) times wall-clock seconds, what a deployed
    model's caller sees. ``clock="thread_cpu"`` times the CPU seconds of the
    calling thread instead, which other processes on a shared machine do not
    inflate by taking the core away; it is only allowed on CPU with
    ``num_threads=1`` (with more threads the work runs on threads it does not
    see).

    Measure on the hardware you deploy to: latency does not carry over
    between machines, thread counts or batch sizes.

    Example::

        result = measure_latency(model, torch.randn(1, 64), num_threads=1)
        result.median_ms, result.p90_ms

    Args:
        model: The model (any callable ``torch.nn.Module``).
        example_input: One input batch, as the deployed model gets it.
        warmup: Untimed calls first (>= 0).
        min_run_time: Seconds of timed calls at least (> 0).
        num_threads: torch intra-op threads while timing (default: current).
        device: Move model and input there first (default: where the model is).
        clock: ``"wall"`` or ``"thread_cpu"`` (see above).
    """
    import torch

    dev = torch.device(device) if device is not None else _model_device(model)
    _check_latency_args(warmup, min_run_time, num_threads, clock, dev)
    if device is not None:
        model = model.to(dev)
    example = _to_device(example_input, dev)
    threads = num_threads or torch.get_num_threads()
    m = _timed(model, example, dev, threads, warmup, min_run_time, clock)
    times = [t * 1e3 for t in m.times]
    ordered = sorted(times)
    return LatencyResult(
        median_ms=_percentile(ordered, 0.5),
        p90_ms=_percentile(ordered, 0.9),
        mean_ms=float(sum(ordered) / len(ordered)),
        iqr_ms=_percentile(ordered, 0.75) - _percentile(ordered, 0.25),
        blocks=len(times),
        calls_per_block=int(m.number_per_run),
        warmup=warmup,
        device=str(dev),
        device_name=_device_name(dev),
        num_threads=threads,
        torch_version=torch.__version__,
        clock=clock,
        min_ms=ordered[0],
        times_ms=times,
    )


def _check_latency_args(
    warmup: Any, min_run_time: Any, num_threads: Any, clock: str, dev: Any
) -> None:
    """Refuse arguments of :func:`measure_latency` that are not allowed."""
    if not isinstance(warmup, int) or warmup < 0:
        raise MeasureError(f"warmup must be an integer >= 0, got {warmup!r}.")
    if not min_run_time or min_run_time <= 0:
        raise MeasureError(f"min_run_time must be > 0 seconds, got {min_run_time!r}.")
    if num_threads is not None and (
        not isinstance(num_threads, int) or num_threads < 1
    ):
        raise MeasureError(f"num_threads must be None or >= 1, got {num_threads!r}.")
    if clock not in CLOCKS:
        raise MeasureError(f"clock must be one of {', '.join(CLOCKS)}, got {clock!r}.")
    if clock == "thread_cpu" and (dev.type != "cpu" or num_threads != 1):
        raise MeasureError(
            "clock='thread_cpu' needs a CPU model and num_threads=1 (it counts the "
            f"calling thread's CPU time only); got device {dev}, num_threads "
            f"{num_threads!r}."
        )


def _call(model: Any, example: Any) -> Any:
    """``model(example)``; a tuple/list is unpacked, a dict passed as keywords."""
    if isinstance(example, dict):
        return model(**example)
    if isinstance(example, tuple | list):
        return model(*example)
    return model(example)


def _timed(
    model: Any,
    example: Any,
    dev: Any,
    threads: int,
    warmup: int,
    min_run_time: float,
    clock: str,
) -> Any:
    """Warm-up calls, then ``Timer.blocked_autorange``; mode and threads restored."""
    import time

    import torch
    from torch.utils import benchmark

    was_training = model.training
    previous_threads = torch.get_num_threads()
    model.eval()
    try:
        torch.set_num_threads(threads)
        with torch.inference_mode():
            for _ in range(warmup):
                _call(model, example)
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            # The statement calls the model directly (no helper call timed).
            if isinstance(example, dict):
                stmt = "model(**example)"
            elif isinstance(example, tuple | list):
                stmt = "model(*example)"
            else:
                stmt = "model(example)"
            timer = benchmark.Timer(
                stmt=stmt,
                globals={"model": model, "example": example},
                num_threads=threads,
                timer=time.thread_time if clock == "thread_cpu" else time.perf_counter,
            )
            return timer.blocked_autorange(min_run_time=min_run_time)
    finally:
        torch.set_num_threads(previous_threads)
        model.train(was_training)


def _percentile(ordered: list[float], q: float) -> float:
    """Linear-interpolation percentile of sorted values (numpy's default rule)."""
    if not ordered:
        return float("nan")
    pos = q * (len(ordered) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return float(ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo))


def count_params(model: torch.nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters of ``model``, each shared tensor counted once.

    Args:
        model: The model.
        trainable_only: Count only parameters with ``requires_grad``.
    """
    seen: set[int] = set()
    total = 0
    for p in model.parameters():
        if trainable_only and not p.requires_grad:
            continue
        if id(p) in seen:
            continue
        seen.add(id(p))
        total += p.numel()
    return int(total)


def model_size_bytes(model: torch.nn.Module, include_buffers: bool = True) -> int:
    """Bytes held by the model's parameters (and buffers), shared storage once.

    The rule: sum of ``numel * element_size`` over distinct tensors. This is
    the in-memory size of the weights at their current dtype (a float16 model
    is half the size of its float32 twin); a saved checkpoint adds a little
    framing on top.

    Args:
        model: The model.
        include_buffers: Count buffers (batch-norm statistics, ...) too.
    """
    seen: set[int] = set()
    total = 0
    tensors = list(model.parameters())
    if include_buffers:
        tensors += list(model.buffers())
    for t in tensors:
        if id(t) in seen:
            continue
        seen.add(id(t))
        total += t.numel() * t.element_size()
    return int(total)


def _writer(target: Any) -> tuple[Any, bool]:
    """A SummaryWriter-like object for ``target`` (path or writer); owned flag."""
    if hasattr(target, "add_scalar"):
        return target, False
    if isinstance(target, str | os.PathLike):
        from torch.utils.tensorboard import SummaryWriter

        return SummaryWriter(log_dir=os.fspath(target)), True
    raise MeasureError(
        "writer must be a log dir path or an object with add_scalar(tag, value, "
        f"step) (a SummaryWriter), got {type(target).__name__}."
    )


def log_model_stats(
    writer: Any,
    model: torch.nn.Module,
    example_input: Any = None,
    *,
    step: int = 0,
    latency: bool = True,
    warmup: int = 10,
    min_run_time: float = 1.0,
    num_threads: int | None = None,
    device: str | None = None,
    clock: str = "wall",
) -> dict[str, float]:
    """Measure ``model`` and log ``num_params``, ``model_size_bytes`` and latency.

    The rule: the parameter count and size are always logged; latency
    (``latency_ms`` median and ``latency_p90_ms``) when ``latency`` is true
    and an ``example_input`` is given. Log them at the start of training, so
    that a trial stopped early still has them. Returns what was logged, plus
    ``latency_threads`` and ``latency_device`` when latency was measured.

    Args:
        writer: A log dir (a SummaryWriter is opened and closed) or a writer.
        model: The model.
        example_input: One input batch for the latency measurement.
        step: Global step to log at (the metrics do not depend on it).
        latency: Measure latency (needs ``example_input``).
        warmup: See :func:`measure_latency`.
        min_run_time: See :func:`measure_latency`.
        num_threads: See :func:`measure_latency`.
        device: See :func:`measure_latency`.
        clock: See :func:`measure_latency`.
    """
    if latency and example_input is None:
        raise MeasureError(
            "log_model_stats: latency=True needs example_input (one input batch); "
            "pass latency=False to log only num_params and model_size_bytes."
        )
    out: dict[str, Any] = {
        NUM_PARAMS_TAG: float(count_params(model)),
        MODEL_SIZE_TAG: float(model_size_bytes(model)),
    }
    if latency:
        result = measure_latency(
            model,
            example_input,
            warmup=warmup,
            min_run_time=min_run_time,
            num_threads=num_threads,
            device=device,
            clock=clock,
        )
        out[LATENCY_TAG] = result.median_ms
        out[LATENCY_P90_TAG] = result.p90_ms
    w, owned = _writer(writer)
    try:
        for tag, value in out.items():
            w.add_scalar(tag, value, step)
        if latency:
            text = (
                f"device={result.device} ({result.device_name}), "
                f"threads={result.num_threads}, blocks={result.blocks}x"
                f"{result.calls_per_block} calls, warmup={result.warmup}, "
                f"clock={result.clock}, "
                f"torch={result.torch_version}"
            )
            if hasattr(w, "add_text"):
                w.add_text("latency_setup", text, step)
        if hasattr(w, "flush"):
            w.flush()
    finally:
        if owned:
            w.close()
    if latency:
        out["latency_threads"] = result.num_threads
        out["latency_device"] = result.device
    return out
