"""Entry-point helpers: run a Hydra app so that bad input prints one line, not a traceback."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from omegaconf.errors import OmegaConfBaseException

from child.errors import ConfigError
from controller.config import one_line

try:  # Hydra's own error type for config composition problems
    from hydra.errors import HydraException
except ImportError:  # pragma: no cover - hydra is a hard dependency
    HydraException = Exception  # type: ignore[misc,assignment]

USER_ERRORS = (ConfigError, HydraException, OmegaConfBaseException, FileNotFoundError)


def run_cli(main: Callable[[], object]) -> None:
    """Call a `@hydra.main` function; user errors exit 2 with one `error: ...` line.

    Hydra normally prints multi-line messages for a bad override. With HYDRA_FULL_ERROR set,
    it re-raises instead, which lets us print one line. A user who sets HYDRA_FULL_ERROR=1
    themselves still gets the full traceback.
    """
    if os.environ.get("HYDRA_FULL_ERROR") == "1":
        main()
        return
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        main()
    except USER_ERRORS as err:
        print(f"error: {one_line(str(err))}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print(
            "interrupted: the last checkpoint is kept; continue with resume=<run dir>",
            file=sys.stderr,
        )
        sys.exit(130)
