"""Every code block of README.md and docs/*.md runs as written.

The convention (COMMON.md, docs/testing.md): a fenced block tagged
``python`` or ``bash`` is executed; the python blocks of one file run in
order in one fresh interpreter, in a temporary working folder; each bash
block runs alone in ``bash -euo pipefail`` in that folder, with this
interpreter's ``bin`` folder first on ``PATH`` (so ``ax-nas`` and
``python`` are this environment's). A block preceded, on the line right
above its fence, by ``<!-- docs-test: skip (reason) -->`` is not run; the
skipped blocks are listed (``-rA`` shows them) with their reasons.
``text`` and ``yaml`` blocks are never run.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
SKIP = re.compile(r"<!--\s*docs-test:\s*skip\s*\((.+)\)\s*-->")
FENCE = re.compile(r"^(\s*)```+\s*([A-Za-z0-9_+-]*)")


@dataclass
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    skip: str | None


def blocks(path: Path) -> list[Block]:
    """The fenced blocks of a Markdown file, with their skip reasons."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, lang, start = m.group(1), m.group(2).lower(), i
        body = []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith("```"):
            line = lines[i]
            body.append(line[len(indent) :] if line.startswith(indent) else line)
            i += 1
        i += 1
        above = lines[start - 1] if start > 0 else ""
        skip = SKIP.search(above)
        found.append(
            Block(path, start + 1, lang, "\n".join(body) + "\n", skip and skip.group(1))
        )
    return found


def _env(tmp: Path) -> dict[str, str]:
    bindir = str(Path(sys.executable).parent)
    return {
        **os.environ,
        "PATH": bindir + os.pathsep + os.environ.get("PATH", ""),
        "AX_NAS_REPO": str(REPO),
        "COLUMNS": "120",
        "HOME": os.environ.get("HOME", str(tmp)),
    }


_DRIVER = """
import json, sys, traceback
blocks = json.load(open(sys.argv[1]))
scope = {"__name__": "__main__"}
for b in blocks:
    try:
        exec(compile(b["code"], f"{b['file']}:{b['line']}", "exec"), scope)
    except BaseException:
        traceback.print_exc()
        print(f"DOCS BLOCK FAILED: {b['file']} line {b['line']}", file=sys.stderr)
        sys.exit(1)
"""


def test_block_parser_reads_skips_and_languages(tmp_path):
    md = tmp_path / "x.md"
    md.write_text(
        "text\n```python\na = 1\n```\n<!-- docs-test: skip (needs a cluster) -->\n"
        "```bash\nsbatch x\n```\n```yaml\nk: v\n```\n"
    )
    got = [(b.lang, b.code, b.skip, b.line) for b in blocks(md)]
    assert got == [
        ("python", "a = 1\n", None, 2),
        ("bash", "sbatch x\n", "needs a cluster", 6),
        ("yaml", "k: v\n", None, 9),
    ]


def _runnable(doc: Path) -> list[Block]:
    return [b for b in blocks(doc) if b.lang in ("python", "bash") and not b.skip]


#: Files with at least one block to run (the others have only text or skips).
RUNNABLE_DOCS = [d for d in DOCS if _runnable(d)]


LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def local_links(path: Path) -> list[str]:
    """The relative targets of a Markdown file's ``[text](target)`` links."""
    targets = LINK.findall(path.read_text(encoding="utf-8"))
    return [t for t in targets if "://" not in t and not t.startswith("mailto:")]


def test_local_links_name_files_that_exist(tmp_path):
    bad = tmp_path / "bad.md"
    bad.write_text("[a](docs/x.md) [b](https://ax.dev) [c](y.md#part)\n")
    assert local_links(bad) == ["docs/x.md", "y.md"]
    broken = [
        f"{d.relative_to(REPO)} -> {t}"
        for d in DOCS
        for t in local_links(d)
        if not (d.parent / t).exists()
    ]
    assert broken == []
    # each plugin page links its benchmark record, and the README both
    for page in ("generation", "early_stopping"):
        record = f"{page}_benchmarks.md"
        assert record in local_links(REPO / "docs" / f"{page}.md")
        assert f"docs/{record}" in local_links(REPO / "README.md")


def test_skipped_blocks_are_listed_with_reasons():
    skipped = [
        b for d in DOCS for b in blocks(d) if b.lang in ("python", "bash") and b.skip
    ]
    for b in skipped:
        print(f"skipped {b.path.name}:{b.line} ({b.lang}): {b.skip}")
    assert all(b.skip.strip() for b in skipped)
    # README's first block (install + whole test suite) is the one it must skip.
    readme = blocks(REPO / "README.md")[0]
    assert readme.skip and "ax-nas demo" in readme.code


@pytest.mark.slow
@pytest.mark.parametrize("doc", RUNNABLE_DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_doc_blocks_run(doc, tmp_path):
    runnable = _runnable(doc)
    env = _env(tmp_path)
    python = [
        {"file": doc.name, "line": b.line, "code": b.code}
        for b in runnable
        if b.lang == "python"
    ]
    if python:
        spec = tmp_path / "blocks.json"
        spec.write_text(json.dumps(python))
        driver = tmp_path / "driver.py"
        driver.write_text(_DRIVER)
        done = subprocess.run(
            [sys.executable, str(driver), str(spec)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert done.returncode == 0, f"{doc.name}: python blocks\n{done.stderr[-4000:]}"
    for b in runnable:
        if b.lang != "bash":
            continue
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", b.code],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert done.returncode == 0, (
            f"{doc.name}:{b.line} bash block failed\n{b.code}\n"
            f"{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
        )
