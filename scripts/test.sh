#!/usr/bin/env bash
# The project's one test command (README, .ci/run): install, start the services
# the tests need, run every test, stop what was started.
# FAST=1 runs only the fast set (no real-backend or slow tests).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
# torch first, pinned: this version is on the machine's disk (a CPU build); a bare
# range would pull a multi-GB CUDA build.
"$PY" -m pip install --quiet --disable-pip-version-check "torch==2.13.0"
"$PY" -m pip install --quiet --disable-pip-version-check -e ".[saasbo,test,postgres,ray,kubernetes]"

# Services for real-backend tests: scripts/services.sh installs what is missing
# (Debian packages: docker.io, debootstrap, postgresql), starts dockerd, and is
# asked to stop it on exit, whatever happens. PostgreSQL servers are started
# and stopped by the test fixture itself.
if [[ -z "${FAST:-}" ]]; then
  trap 'scripts/services.sh stop || true' EXIT
  scripts/services.sh start
  # Slurm test cluster packages and iproute2 for the Ray namespace (the
  # fixtures start and stop the daemons)
  "$PY" -c "from ax_nas_plugins.testing import slurm_cluster as s; s.install()"
  # The report's HTML is checked in a real headless browser (tests/test_cli_run.py).
  command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
fi

MARKS=()
if [[ -n "${FAST:-}" ]]; then
  MARKS=(-m "not slow and not docker and not slurm and not ray and not postgres")
fi
"$PY" -m ruff check ax_nas_plugins tests benchmarks
# -rfEsxX: the summary names every failure, error, skip (with its reason) and
# xfail. Under .ci/run (AX_NAS_STRICT_SKIPS=1) a skip not marked ci_may_skip
# fails the run; FAST=1 deselects the real-backend tests instead of skipping them.
"$PY" -m pytest -rfEsxX "${MARKS[@]}" "$@"
