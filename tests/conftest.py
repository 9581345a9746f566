"""Shared fixtures: the real Hydra config, composed per test, and a tiny finished run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from omegaconf import DictConfig

from app.config import compose_config
from child.evaluation.trainer import torch_threads
from tests.helpers import TINY, run_search


@pytest.fixture
def compose_cfg() -> Callable[..., DictConfig]:
    return compose_config


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny finished search on digits; tests only read it."""
    run_dir = tmp_path_factory.mktemp("finished_run")
    run_search(run_dir, TINY)
    return run_dir


@pytest.fixture
def one_thread():
    """Torch on one thread for the test, restored after.

    Tiny nets gain nothing from a second thread, and on a busy 2-core machine two threads made
    a child that trains in 0.7 s take up to 35 s (measured).
    """
    with torch_threads(1):
        yield
