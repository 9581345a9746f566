"""Name a sweep's job directories by the overrides that vary: `0-controller=lstm`, not all of them.

Hydra names a job by `hydra.job.override_dirname`: every override of the call, so a sweep's
directories (and TensorBoard's run list) repeat the settings that every job shares. A Hydra
callback, run once before the sweeper starts (conf/config.yaml `hydra.callbacks`), expands the
sweep as the basic sweeper will and adds the keys that have one value in every job to
`override_dirname.exclude_keys`. It does so through a Hydra override appended to
`hydra.overrides.hydra`, which every launcher (basic, joblib, submitit) replays when it composes
each job's config, in this process or another. Other sweepers (Optuna, say) keep Hydra's names.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.errors import HydraException
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"
EXCLUDE_KEYS = "hydra.job.config.override_dirname.exclude_keys"


def sweep_values(overrides: Sequence[Override]) -> dict[str, set[str]]:
    """Per key, the values its jobs take: a later override of a key wins, as in the sweeper."""
    values: dict[str, set[str]] = {}
    for override in overrides:
        key = override.key_or_group
        if not override.is_sweep_override():
            values[key] = {override.get_value_element_as_str()}
        elif override.is_discrete_sweep():
            values[key] = set(override.sweep_string_iterator())
        else:  # an interval: the basic sweeper refuses it, others draw from it
            values[key] = {"", str(override.value())}
    return values


def constant_keys(arguments: Sequence[str], config_loader: Any = None) -> list[str]:
    """The override keys of a sweep that have the same value in every job, in given order.

    `arguments` are the sweep's overrides (`controller=lstm,random seed=0`); `config_loader`
    lists a config group's options for a `glob(...)` sweep.
    """
    parser = OverridesParser.create(config_loader=config_loader)
    values = sweep_values(parser.parse_overrides(list(arguments)))
    return [key for key, taken in values.items() if len(taken) == 1]


def list_override(key: str, items: Iterable[str]) -> str:
    """`key=['a','b']`: a Hydra override setting a list of strings, each one quoted."""
    quoted = ",".join("'" + item.replace("\\", "\\\\").replace("'", "\\'") + "'" for item in items)
    return f"{key}=[{quoted}]"


class NameJobsByWhatVaries(Callback):
    """Before a basic sweep starts, leave the overrides every job shares out of its names."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        """Add the sweep's constant keys to `override_dirname.exclude_keys` for every job."""
        hydra = config.hydra
        if str(hydra.sweeper.get("_target_")) != BASIC_SWEEPER:
            return
        params = hydra.sweeper.get("params") or {}
        arguments = [f"{k}={v}" for k, v in params.items()] + list(hydra.overrides.task)
        global_hydra = GlobalHydra.instance()
        loader = global_hydra.config_loader() if global_hydra.is_initialized() else None
        try:
            constant = constant_keys(arguments, loader)
        except HydraException:
            return  # the sweeper reports the bad override in its own words
        excluded = list(hydra.job.config.override_dirname.exclude_keys)
        keys = list(dict.fromkeys([*excluded, *constant]))
        with read_write(hydra), open_dict(hydra):
            hydra.overrides.hydra.append(list_override(EXCLUDE_KEYS, keys))
            OmegaConf.update(config, EXCLUDE_KEYS, keys)  # multirun.yaml says the same
