"""Entry-point helpers: bad input prints one `error: ...` line and exits 2, without a traceback."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from app.errors import USER_ERRORS, describe, describe_os_error

# Added to any other exception that escapes a task, so that run_cli lets it show its traceback.
TASK_BUG = "raised inside the task: a bug, not bad input"
HYDRA_FILES = {".hydra", "search.log", "retrain.log", "compare.log"}


def fail(message: str) -> None:
    """Print `error: message` on stderr and exit with status 2."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


@contextmanager
def user_errors(run_dir: Path | None = None, hydra_subdir: str | None = None) -> Iterator[None]:
    """Inside a Hydra task: turn bad input into one line and exit 2, leaving nothing behind.

    What Hydra made for this call is removed: `run_dir` if it holds nothing but Hydra's files
    (and the empty folders above it that held only it), or else, in a run being resumed, this
    call's own `hydra_subdir` (`.hydra/resumed-<time>`).
    """
    try:
        yield
    except USER_ERRORS as err:
        if run_dir is not None:
            _remove_call_files(run_dir, hydra_subdir)
        fail(describe(err))
    except OSError as err:
        if err.filename is None:  # not about a path: a bug, not the place's fault
            err.add_note(TASK_BUG)
            raise
        if run_dir is not None:
            _remove_call_files(run_dir, hydra_subdir)
        fail(describe_os_error(err))
    except Exception as err:
        err.add_note(TASK_BUG)
        raise


def _remove_call_files(run_dir: Path, hydra_subdir: str | None) -> None:
    if not run_dir.is_dir():
        return
    logs = [run_dir / name for name in HYDRA_FILES if name.endswith(".log")]
    if {p.name for p in run_dir.iterdir()} - HYDRA_FILES:  # an existing run: keep it whole
        if hydra_subdir and Path(hydra_subdir).parent.name == ".hydra":
            shutil.rmtree(run_dir / hydra_subdir, ignore_errors=True)
        for log in logs:  # an empty log can only be the one Hydra just opened
            if log.exists() and log.stat().st_size == 0:
                log.unlink()
        return
    if any(log.exists() and log.stat().st_size > 0 for log in logs):
        return
    shutil.rmtree(run_dir, ignore_errors=True)
    cwd = Path.cwd().resolve()
    parent = run_dir.resolve().parent
    while parent != cwd and cwd in parent.parents and not any(parent.iterdir()):
        parent.rmdir()  # outputs/<date>/ that this call alone had made
        parent = parent.parent


def _file_system_cause(err: BaseException) -> OSError | None:
    """The file-system error (with its path) behind `err`, e.g. Hydra's unopenable log file."""
    while err is not None:
        if isinstance(err, OSError) and err.filename is not None:
            return err
        err = err.__cause__ or err.__context__
    return None


def run_cli(main: Callable[[], object], before: Callable[[], None] | None = None) -> None:
    """Call a `@hydra.main` function so that composition errors also print one line.

    Hydra prints multi-line messages for a bad override; with HYDRA_FULL_ERROR set it re-raises
    instead, which lets us print one line. A user who sets HYDRA_FULL_ERROR=1 themselves still
    gets Hydra's full traceback. `before` runs first (app/preflight.py: checks made before
    Hydra writes anything); a file-system error Hydra meets (making the run directory, opening
    its log) is one line too.
    """
    previous = os.environ.get("HYDRA_FULL_ERROR")
    if previous == "1":
        try:
            if before is not None:
                before()
        except USER_ERRORS as err:
            fail(describe(err))
        main()
        return
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        if before is not None:
            before()
        main()
    except USER_ERRORS as err:
        fail(describe(err))
    except (OSError, ValueError) as err:
        if TASK_BUG in getattr(err, "__notes__", ()):
            raise
        if cause := _file_system_cause(err):
            fail(describe_os_error(cause))
        if isinstance(err, OSError):
            raise
        fail(describe(err))  # Hydra's command-line misuse, e.g. two of --cfg/-m/--info
    except KeyboardInterrupt:
        print(
            "interrupted: the last checkpoint is kept; continue with resume=<run dir>",
            file=sys.stderr,
        )
        sys.exit(130)
    finally:  # the next call in this process decides afresh
        if previous is None:
            del os.environ["HYDRA_FULL_ERROR"]
        else:
            os.environ["HYDRA_FULL_ERROR"] = previous
