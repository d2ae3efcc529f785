"""BoTorch's fused qLogEHVI kernel and torch's build lock (``_compat``'s guard).

A process killed while torch JIT-compiles BoTorch's fused kernel leaves a lock
file that makes every later process wait forever at its first multi-objective
suggestion. The presets skip the kernel when that lock exists. These tests
check the guard for real, in a fresh interpreter with its own
``TORCH_EXTENSIONS_DIR``, and that BoTorch and torch still work the way the
guard assumes.
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path

TESTS_DIR = str(Path(__file__).parent)


def test_botorch_and_torch_still_build_the_kernel_behind_the_lock_we_check(
    tmp_path, monkeypatch
):
    from botorch.acquisition.multi_objective import logei
    from torch.utils import cpp_extension

    from ax_nas_plugins import _compat

    for name in ("_C", "_load_attempted", "_try_load_fused_kernel"):
        assert hasattr(logei, name), (
            f"botorch.acquisition.multi_objective.logei.{name} is gone: update "
            "ax_nas_plugins._compat.skip_fused_logei_if_locked"
        )
    source = inspect.getsource(logei._try_load_fused_kernel)
    assert f'name="{_compat.FUSED_LOGEI_EXTENSION}"' in source, (
        "BoTorch builds its fused kernel under another name: update "
        "ax_nas_plugins._compat.FUSED_LOGEI_EXTENSION"
    )
    assert "FileBaton(os.path.join(build_directory, 'lock'))" in inspect.getsource(
        cpp_extension
    ), "torch's cpp_extension build lock moved: update _compat.fused_logei_lock"
    # the default root (no TORCH_EXTENSIONS_DIR) and an explicit one
    monkeypatch.delenv("TORCH_EXTENSIONS_DIR", raising=False)
    monkeypatch.setattr(
        cpp_extension, "get_default_build_root", lambda: str(tmp_path / "default")
    )
    torch_dir = cpp_extension._get_build_directory(_compat.FUSED_LOGEI_EXTENSION, False)
    assert _compat.fused_logei_lock() == Path(torch_dir) / "lock"
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path / "explicit"))
    torch_dir = cpp_extension._get_build_directory(_compat.FUSED_LOGEI_EXTENSION, False)
    assert _compat.fused_logei_lock() == Path(torch_dir) / "lock"


def test_a_stale_kernel_lock_does_not_hang_the_first_multi_objective_suggestion(
    py, tmp_path
):
    lock = tmp_path / "ext" / "logei_fused_ext" / "lock"
    lock.parent.mkdir(parents=True)
    lock.touch()  # what a process killed while compiling leaves behind
    code = (
        "import sys\n"
        f"sys.path.insert(0, {TESTS_DIR!r})\n"
        "import ax_nas_plugins as anp\n"
        "from botorch.acquisition.multi_objective import logei\n"
        "from test_generation_presets import make_experiment, nas_space, step\n"
        "exp = make_experiment(nas_space(), objectives=('acc', 'size'))\n"
        "gs = anp.generation_strategy('gp_moo', experiment=exp,"
        " num_initial_trials=3, seed=0)\n"
        "keys = [step(exp, gs)[1]._generator_key for _ in range(4)]\n"
        "acqf = type(gs.adapter.generator._acquisition.acqf).__name__\n"
        "print('DONE', keys[-1], acqf, logei._load_attempted, logei._C)\n"
    )
    env = {"TORCH_EXTENSIONS_DIR": str(tmp_path / "ext")}
    # without the guard this waits on the lock forever: the timeout fails it
    out = py(code, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    last = out.stdout.strip().splitlines()[-1]
    assert last == "DONE anp:gp_moo qLogNoisyExpectedHypervolumeImprovement True None"
    assert f"locked by {lock}" in out.stderr, out.stderr[-3000:]
    assert lock.exists(), "the guard must not delete a lock it does not own"
    assert os.listdir(lock.parent) == ["lock"], "nothing was compiled"
