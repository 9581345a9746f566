"""What many tests share: the tiny search, and ways to run the real scripts."""

from __future__ import annotations

import contextlib
import io
import os
import runpy
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from app.config import compose_config
from app.search import search_main

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
SCRIPTS = ROOT / "scripts"
SEARCH_SCRIPT = SCRIPTS / "search.py"

# A search that takes seconds: 8×8 digits, one epoch per child, with any evaluator.
TINY_ANYWHERE = [
    "dataset=digits",
    "child.epochs=1",
    "budget.children=6",
    "budget.batch=3",
    "child.threads=1",
]
# The same, trained in the test's own process (worker processes would take longer to start
# than these children take to train).
TINY = [*TINY_ANYWHERE, "evaluator.workers=1"]


def search_cli(*args: object, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run scripts/search.py in a subprocess, as a user types it; capture its text output."""
    return subprocess.run(
        [sys.executable, str(SEARCH_SCRIPT), *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@dataclass
class Outcome:
    """What a script run in-process did: its exit status and what it printed."""

    code: int
    stdout: str
    stderr: str


def run_script(script: str, *args: object, cwd: Path) -> Outcome:
    """Run scripts/`script` in this process, as `python scripts/<script> args` from `cwd`.

    Seconds faster than a subprocess, so that many bad inputs can each be tried for real.
    """
    out, err = io.StringIO(), io.StringIO()
    argv, here = sys.argv, Path.cwd()
    sys.argv = [str(SCRIPTS / script), *map(str, args)]
    code = 0
    try:
        os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            runpy.run_path(str(SCRIPTS / script), run_name="__main__")
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    finally:
        sys.argv = argv
        os.chdir(here)
    return Outcome(code, out.getvalue(), err.getvalue())


def run_search(run_dir: Path, overrides: Sequence[str] = ()) -> tuple[dict, str]:
    """Run a search in-process; return its summary and what it printed."""
    out = io.StringIO()
    summary = search_main(compose_config(overrides), run_dir, Console(file=out, width=200))
    return summary, out.getvalue()
