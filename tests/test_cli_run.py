"""`ax-nas run` killed with SIGKILL mid-run, `ax-nas resume`, then the report, checked.

One search (4 trials of the demo trainer, 2 at a time, epochs 2-3, Sobol) is
run once for the module; the tests read what it left: every trial accounted
for and each trainer started once (one app folder per trial folder), the
report's Pareto set equal to one computed here from the trainers' own
stdout, PNGs that are real non-blank images, and the HTML page rendered by
a real headless Chromium.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from ax_nas_plugins.config import DEMO_CONFIG

pytestmark = pytest.mark.slow

TRIALS = 4


def _cli(*args, **kw):
    return [sys.executable, "-m", "ax_nas_plugins.cli.main", *args]


def _env():
    return {**os.environ, "COLUMNS": "200", "PYTHONWARNINGS": "default"}


def _wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def _events(folder: Path) -> list[dict]:
    path = folder / "events.jsonl"
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        with contextlib.suppress(json.JSONDecodeError):  # a line cut by the kill
            out.append(json.loads(line))
    return out


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli_run")
    data = yaml.safe_load(DEMO_CONFIG.read_text())
    data["name"] = "tiny"
    data["budget"] = {"max_trials": TRIALS, "parallelism": 2}
    data["generation"] = {"plugin": "sobol", "options": {"seed": 1}}
    data["early_stopping"] = None
    for p in data["parameters"]:
        if p["name"] == "epochs":
            p["bounds"] = [2, 3]
    cfg = root / "tiny.yaml"
    cfg.write_text(yaml.safe_dump(data))
    folder = root / "run"
    first = subprocess.Popen(
        _cli("run", str(cfg), "--dir", str(folder), "--no-report"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_env(),
        start_new_session=True,
    )
    try:
        _wait_for(
            lambda: (
                any(e["event"] == "trial_deployed" for e in _events(folder))
                or first.poll() is not None
            ),
            600,
            "the first trial to start",
        )
    finally:
        if first.poll() is None:
            first.send_signal(signal.SIGKILL)
    killed_output = first.communicate(timeout=60)[0]
    assert first.returncode == -signal.SIGKILL, killed_output
    resumed = subprocess.run(
        _cli("resume", str(folder)),
        capture_output=True,
        text=True,
        env=_env(),
        timeout=900,
        check=False,
    )
    return {
        "folder": folder,
        "killed_output": killed_output,
        "resumed": resumed,
        "config": data,
    }


def test_resume_after_kill_runs_every_trial_once(finished_run):
    folder, resumed = finished_run["folder"], finished_run["resumed"]
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    with sqlite3.connect(folder / "nas.db") as con:
        rows = con.execute("SELECT status FROM trial_v2").fetchall()
    assert len(rows) == TRIALS
    trial_dirs = sorted((folder / "runs").glob("tiny*/trial_*"))
    assert len(trial_dirs) == TRIALS
    for trial_dir in trial_dirs:  # one app (trainer start) per trial
        apps = [p for p in trial_dir.iterdir() if p.name.startswith("mlp-trial-")]
        assert len(apps) == 1, (trial_dir, apps)
    deployed = [
        e["trial_index"] for e in _events(folder) if e["event"] == "trial_deployed"
    ]
    assert sorted(deployed) == list(range(TRIALS))
    assert "completed 4" in resumed.stdout
    assert "Traceback" not in resumed.stdout + resumed.stderr
    assert "Trial logs:" in resumed.stdout
    assert (folder / "ax-nas.log").stat().st_size > 0  # Ax's logs went to the file


def _final_values_from_trainer_logs(folder: Path) -> dict[int, tuple[float, float]]:
    """(val_acc, num_params) of each trial, read from the trainer's own stdout."""
    values = {}
    for log in (folder / "runs").glob("tiny*/trial_*/**/stdout.log"):
        text = log.read_text()
        index = int(re.search(r"trial_(\d+)", str(log)).group(1))
        accs = re.findall(r"val_acc=([0-9.]+)", text)
        params = re.search(r"num_params=(\d+)", text)
        values[index] = (float(accs[-1]), float(params.group(1)))
    return values


def test_report_pareto_equals_hand_computed(finished_run):
    folder, resumed = finished_run["folder"], finished_run["resumed"]
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    values = _final_values_from_trainer_logs(folder)
    assert sorted(values) == list(range(TRIALS))
    front = sorted(
        i
        for i, (acc, n) in values.items()
        if not any(
            a2 >= acc and n2 <= n and (a2 > acc or n2 < n)
            for j, (a2, n2) in values.items()
            if j != i
        )
    )
    table = (folder / "report" / "trials.csv").read_text().splitlines()
    header = table[0].split(",")
    got = sorted(
        int(row.split(",")[0])
        for row in table[1:]
        if row.split(",")[header.index("pareto_optimal")] == "True"
    )
    assert got == front
    markdown = (folder / "report" / "trials.md").read_text()
    assert (
        sorted(int(m) for m in re.findall(r"^\| (\d+)\* \|", markdown, re.M)) == front
    )
    assert f"Report: {folder / 'report' / 'report.html'}" in resumed.stdout.replace(
        "\n", ""
    )


def _pixels(path: Path):
    import numpy as np
    from PIL import Image

    with Image.open(path) as img:
        img.verify()
    with Image.open(path) as img:
        return np.asarray(img.convert("L"), dtype=float)


def test_report_pngs_are_real_images(finished_run):
    report = finished_run["folder"] / "report"
    for name in ("pareto.png", "curves.png", "cv.png"):
        assert (report / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        pixels = _pixels(report / name)
        assert pixels.shape[0] > 200 and pixels.shape[1] > 200, name
        assert pixels.std() > 10, f"{name} looks blank"


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "chromium"],
            capture_output=True,
            timeout=900,
            check=False,
        )
        found = shutil.which("chromium")
    if found is None:
        pytest.fail("chromium is needed (scripts/test.sh installs Debian's chromium)")
    return found


def test_report_html_renders_in_chromium(finished_run, tmp_path):
    page = finished_run["folder"] / "report" / "report.html"
    html = page.read_text()
    assert "<script" in html and "plotly" in html.lower()
    assert not re.search(r"<script[^>]+src=\"https?://", html)  # no network needed
    browser = _chromium()
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=10000",
        "--window-size=1200,1400",
    ]
    shot = tmp_path / "shot.png"
    grab = subprocess.run(
        [browser, *flags, f"--screenshot={shot}", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert shot.exists(), grab.stderr
    console = [ln for ln in grab.stderr.splitlines() if "CONSOLE" in ln]
    assert not [ln for ln in console if "rror" in ln or "Uncaught" in ln], console
    pixels = _pixels(shot)
    assert pixels.std() > 10, "the screenshot is blank"
    dom = subprocess.run(
        [browser, *flags, "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    ).stdout
    assert dom.count('class="main-svg"') >= 3  # plotly drew its SVG for the figures
    assert "Pareto front" in dom
