"""A stand-in trainer: sleeps, prints, writes a result file, fails on request.

The rule: it records its pid in ``<log_dir>/pid`` first, then prints
``step i`` lines while it sleeps ``--sleep`` seconds, then writes
``<log_dir>/result.json`` with its argv, its parameters (``--param NAME
VALUE``, as received), the environment variables named by ``--echo-env``
and ``objective`` (the sum of the numeric parameters). With ``--exit-code
N`` (N != 0) it writes a TorchElastic-style error file (to
``$TORCHELASTIC_ERROR_FILE``), prints a traceback-like message to stderr and
exits with N. With ``--spawn-child`` it starts a ``sleep`` in its own
session that would outlive it (to test that runners leave no orphans) and
records that pid in ``<log_dir>/child_pid``.

Standard library only: it runs where neither Ax nor this package is
installed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time


def _write_atomic(path: str, text: str) -> None:
    """Write ``text`` via a temporary file and a rename: readers never see a
    half-written file."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--log-dir", required=True)
    parser.add_argument("--sleep", type=float, default=0.0)
    parser.add_argument("--exit-code", type=int, default=0)
    parser.add_argument("--param", nargs=2, action="append", default=[])
    parser.add_argument("--echo-env", action="append", default=[])
    parser.add_argument("--spawn-child", action="store_true")
    args = parser.parse_args(argv)

    os.makedirs(args.log_dir, exist_ok=True)
    _write_atomic(os.path.join(args.log_dir, "pid"), str(os.getpid()))
    if args.spawn_child:
        child = subprocess.Popen(["sleep", "300"], start_new_session=True)
        _write_atomic(os.path.join(args.log_dir, "child_pid"), str(child.pid))
    print(f"trainer pid {os.getpid()} argv {json.dumps(sys.argv[1:])}", flush=True)
    steps = max(1, int(args.sleep / 0.05)) if args.sleep > 0 else 0
    for i in range(steps):
        print(f"step {i}", flush=True)
        time.sleep(args.sleep / steps)

    params = dict(args.param)
    if args.exit_code != 0:
        message = f"trainer failed on request with exit code {args.exit_code}"
        error_file = os.environ.get("TORCHELASTIC_ERROR_FILE")
        if error_file:
            os.makedirs(os.path.dirname(error_file), exist_ok=True)
            with open(error_file, "w") as fh:
                json.dump(
                    {
                        "message": {
                            "message": f"RuntimeError: {message}",
                            "extraInfo": {
                                "py_callstack": "Traceback: trainer.main",
                                "timestamp": str(int(time.time())),
                            },
                        }
                    },
                    fh,
                )
        print("Traceback (most recent call last):", file=sys.stderr)
        print(f"RuntimeError: {message}", file=sys.stderr, flush=True)
        return args.exit_code

    numeric = []
    for value in params.values():
        with contextlib.suppress(ValueError):
            numeric.append(float(value))
    result = {
        "argv": sys.argv[1:],
        "params": params,
        "env": {name: os.environ.get(name) for name in args.echo_env},
        "objective": sum(numeric),
        "pid": os.getpid(),
    }
    tmp = os.path.join(args.log_dir, "result.json.tmp")
    with open(tmp, "w") as fh:
        json.dump(result, fh)
    os.replace(tmp, os.path.join(args.log_dir, "result.json"))
    print("done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
