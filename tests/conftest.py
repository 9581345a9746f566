"""Shared fixtures: the real Hydra config, composed once per test, and a tiny finished run."""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from omegaconf import DictConfig
from rich.console import Console

from app.config import compose_config
from app.search import search_main

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
SEARCH_SCRIPT = ROOT / "scripts" / "search.py"

# A search that takes seconds: 8×8 digits, one epoch per child.
TINY = [
    "dataset=digits",
    "child.epochs=1",
    "budget.children=6",
    "budget.batch=3",
    "child.threads=1",
]


def search_cli(*args: object, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run scripts/search.py in a subprocess, as a user types it; capture its text output."""
    return subprocess.run(
        [sys.executable, str(SEARCH_SCRIPT), *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_search(run_dir: Path, overrides: Sequence[str] = ()) -> tuple[dict, str]:
    """Run a search in-process; return its summary and what it printed."""
    out = io.StringIO()
    summary = search_main(compose_config(overrides), run_dir, Console(file=out, width=200))
    return summary, out.getvalue()


@pytest.fixture
def compose_cfg() -> Callable[..., DictConfig]:
    return compose_config


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny finished search on digits; tests only read it."""
    run_dir = tmp_path_factory.mktemp("finished_run")
    run_search(run_dir, TINY)
    return run_dir
