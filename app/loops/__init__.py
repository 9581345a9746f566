"""The search loops, one per method, and the registry that picks one for a config.

base.py           SearchLoop: the run, the stop rules, controller timing, the checkpoint
multi_trial.py    MultiTrialSearch ("multi_trial"): children trained one by one, pipelined
shared_weights.py SharedWeightSearch ("enas"): ENAS epochs over a supernet, then derive
darts.py          DartsSearch ("darts"): DARTS epochs over the same supernet, the argmax
"""

from __future__ import annotations

from typing import Any

from app.config import SearchConfig
from app.loops.base import SearchLoop
from app.loops.darts import DartsSearch
from app.loops.multi_trial import MultiTrialSearch
from app.loops.shared_weights import SharedWeightSearch
from core.errors import ConfigError

LOOPS: dict[str, type[SearchLoop]] = {
    loop.method: loop for loop in (MultiTrialSearch, SharedWeightSearch, DartsSearch)
}


def loop_for(cfg: SearchConfig) -> type[SearchLoop]:
    """The one loop that handles `cfg` (each loop says which configs it runs)."""
    matches = [loop for loop in LOOPS.values() if loop.handles(cfg)]
    if len(matches) != 1:
        names = [loop.method for loop in matches]
        raise ConfigError(
            f"controller={cfg.controller.name} evaluator={cfg.evaluator.name} matches "
            f"{len(matches)} search loops {names}, not one"
        )
    return matches[0]


def loop_named(method: str) -> type[SearchLoop]:
    """The loop registered as `method` (the "method" of summary.json and checkpoints)."""
    if method not in LOOPS:
        raise ConfigError(f"search method {method!r} is unknown: expected one of {list(LOOPS)}")
    return LOOPS[method]


def summary_rows(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """The end-of-search table of a finished search, by the method its summary names."""
    return loop_named(summary["method"]).summary_rows(summary)
