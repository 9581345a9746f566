"""Entry-point helpers: bad input prints one `error: ...` line and exits 2, without a traceback."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from hydra.errors import HydraException
from omegaconf.errors import OmegaConfBaseException

from core.errors import ConfigError, describe

USER_ERRORS = (ConfigError, HydraException, OmegaConfBaseException)
HYDRA_FILES = {".hydra", "search.log", "retrain.log", "compare.log"}


def fail(message: str) -> None:
    """Print `error: message` on stderr and exit with status 2."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


@contextmanager
def user_errors(run_dir: Path | None = None) -> Iterator[None]:
    """Inside a Hydra task: turn bad input into one line and exit 2.

    A `run_dir` that holds nothing but the files Hydra just made for this call is removed, so
    that a typo leaves no empty run behind.
    """
    try:
        yield
    except USER_ERRORS as err:
        if run_dir is not None:
            _remove_if_empty(run_dir)
        fail(describe(err))


def _remove_if_empty(run_dir: Path) -> None:
    """Remove `run_dir` if only Hydra's files are there and nothing was ever logged to it."""
    if not run_dir.is_dir() or {p.name for p in run_dir.iterdir()} - HYDRA_FILES:
        return
    logs = [run_dir / name for name in HYDRA_FILES if name.endswith(".log")]
    if all(not log.exists() or log.stat().st_size == 0 for log in logs):
        shutil.rmtree(run_dir, ignore_errors=True)


def run_cli(main: Callable[[], object]) -> None:
    """Call a `@hydra.main` function so that composition errors also print one line.

    Hydra prints multi-line messages for a bad override; with HYDRA_FULL_ERROR set it re-raises
    instead, which lets us print one line. A user who sets HYDRA_FULL_ERROR=1 themselves still
    gets Hydra's full traceback.
    """
    if os.environ.get("HYDRA_FULL_ERROR") == "1":
        main()
        return
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        main()
    except USER_ERRORS as err:
        fail(describe(err))
    except ValueError as err:
        if not _raised_by_hydra(err):
            raise
        fail(describe(err))  # command-line misuse, e.g. two of --cfg/-m/--info
    except KeyboardInterrupt:
        print(
            "interrupted: the last checkpoint is kept; continue with resume=<run dir>",
            file=sys.stderr,
        )
        sys.exit(130)


def _raised_by_hydra(err: BaseException) -> bool:
    """Whether the innermost frame of `err` is Hydra's own code (then it is about the CLI)."""
    tb = err.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and f"{os.sep}hydra{os.sep}" in tb.tb_frame.f_code.co_filename
