"""What scripts/search.py checks before Hydra makes or writes anything.

Hydra makes the run directory, opens its log file and writes `.hydra/` before the task starts,
and a `-m` sweep runs its jobs one after another. So three checks run first, each refusing with
one line and nothing made:

- the place the run (or sweep) directory goes can be written: not below a plain file, no name
  over the file system's limit, not read-only;
- a new run's directory does not already hold a search (Hydra would overwrite its `.hydra/`);
- every job of a sweep is composed and validated, so that no job runs when one is bad.

Everything else (a bad override, an unknown option) is left to Hydra and the task, which
already refuse it in one line.
"""

from __future__ import annotations

import argparse
import os
import stat
from collections.abc import Sequence
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra._internal.utils import get_args_parser
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

from app.config import CONF_DIR, register_configs, typed_config
from app.errors import USER_ERRORS, describe
from app.run_files import BEST, CHECKPOINT, CHILDREN
from app.validate import validate
from core.errors import ConfigError

SUMMARY = "summary.json"
RECORDS = (CHILDREN, BEST)
# Flags under which Hydra runs no search (or reads another config): nothing to check.
NO_SEARCH_FLAGS = (
    "help",
    "hydra_help",
    "version",
    "cfg",
    "info",
    "shell_completion",
    "config_path",
    "config_name",
    "config_dir",
    "experimental_rerun",
)


class _Unparsed(Exception):
    """The command line is not one this check understands: Hydra will say what is wrong."""


def preflight(argv: Sequence[str], config_name: str = "config") -> None:
    """Raise ConfigError, in one line, for a run or sweep that would fail once Hydra starts."""
    args = _parse(argv)
    if args is None or any(getattr(args, flag, None) for flag in NO_SEARCH_FLAGS):
        return
    overrides = list(args.overrides)
    try:
        jobs = sweep_jobs(overrides) if args.multirun else [overrides]
        first = _compose(jobs[0], config_name)
    except Exception:  # a bad override: Hydra refuses it in one line, as it always has
        return
    if not args.multirun:
        run_dir = Path(str(first.hydra.run.dir))
        require_writable(run_dir, f"{first.hydra.job.name}.log")
        if not first.get("resume"):
            require_new_run_dir(run_dir)
        return
    require_writable(Path(str(first.hydra.sweep.dir)))
    if first.hydra.sweeper.get("_target_") != f"{BasicSweeper.__module__}.BasicSweeper":
        return  # another sweeper chooses its own jobs
    if params := first.hydra.sweeper.get("params"):
        jobs = sweep_jobs([*(f"{k}={v}" for k, v in params.items()), *overrides])
    check_sweep_jobs(jobs, config_name)


def _parse(argv: Sequence[str]) -> argparse.Namespace | None:
    parser = get_args_parser()

    def error(message: str) -> None:
        raise _Unparsed(message)

    parser.error = error  # type: ignore[method-assign]  # no usage text, no exit: Hydra's call
    try:
        return parser.parse_args(list(argv))
    except _Unparsed:
        return None


def _compose(overrides: Sequence[str], config_name: str) -> DictConfig:
    register_configs()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            return compose(config_name, overrides=list(overrides), return_hydra_config=True)
    finally:
        GlobalHydra.instance().clear()


def sweep_jobs(overrides: Sequence[str]) -> list[list[str]]:
    """Each job of a `-m` sweep as its list of overrides, as Hydra's basic sweeper makes them."""
    parsed = OverridesParser.create().parse_overrides(list(overrides))
    return [job for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]


def check_sweep_jobs(jobs: Sequence[Sequence[str]], config_name: str = "config") -> None:
    """Compose and validate every job; the first bad one is named with its values."""
    for number, job in enumerate(jobs):
        try:
            cfg = typed_config(_without_hydra(_compose(job, config_name)))
            if cfg.resume:
                continue  # a resumed job keeps its run's settings, which resume checks
            validate(cfg)
        except USER_ERRORS as err:
            swept = [o for o in job if any(o not in other for other in jobs)]  # its own values
            label = " ".join(swept or job)
            raise ConfigError(
                f"sweep job {number} ({label}) of {len(jobs)}: {describe(err)}; no job was run"
            ) from err


def _without_hydra(cfg: DictConfig) -> DictConfig:
    plain = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
    assert isinstance(plain, DictConfig)
    return plain


def require_new_run_dir(run_dir: Path) -> None:
    """Raise ConfigError if `run_dir` already holds a search or the records of one."""
    if (run_dir / SUMMARY).exists() or (run_dir / CHECKPOINT).exists():
        raise ConfigError(f"{run_dir} already holds a search: continue it with resume={run_dir}")
    records = [n for n in RECORDS if (run_dir / n).is_file() and (run_dir / n).stat().st_size]
    if records:
        raise ConfigError(
            f"{run_dir} already holds {' and '.join(records)} of another search: a new run "
            "needs a run directory of its own"
        )


def require_writable(path: Path, log_name: str | None = None) -> None:
    """Raise ConfigError unless a directory can be made at `path`, or written if it exists.

    Names the path and the reason: a plain file on the way, a name over the file system's
    limit, or a place that cannot be written (read-only, or no permission); `log_name` is a
    log file Hydra will append to in it.
    """
    path = Path(os.path.abspath(path))
    existing, info = _deepest_existing(path)
    if not stat.S_ISDIR(info.st_mode):
        raise ConfigError(f"cannot make the run directory {path}: {existing} is a file")
    name_max = os.pathconf(existing, "PC_NAME_MAX")
    for part in path.relative_to(existing).parts:
        if len(os.fsencode(part)) > name_max:
            raise ConfigError(
                f"cannot make the run directory {path}: the name {part[:24]!r}... is "
                f"{len(os.fsencode(part))} bytes, over the file system's limit of {name_max}"
            )
    if len(os.fsencode(str(path))) >= os.pathconf(existing, "PC_PATH_MAX"):
        raise ConfigError(f"cannot make the run directory {path}: its path is too long")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"cannot write the run directory {path}: {_why_unwritable(existing)}")
    log = path / log_name if log_name else None
    if log is not None and log.exists() and not os.access(log, os.W_OK):
        raise ConfigError(f"cannot write the log file {log}: {_why_unwritable(log)}")


def _deepest_existing(path: Path) -> tuple[Path, os.stat_result]:
    while True:
        try:
            return path, os.stat(path)
        except OSError:  # missing, below a file, or a name too long: look one level up
            if path.parent == path:
                raise
            path = path.parent


def _why_unwritable(path: Path) -> str:
    if os.statvfs(path).f_flag & os.ST_RDONLY:
        return f"{path} is on a read-only file system"
    return f"{path} is not writable (permission denied)"
