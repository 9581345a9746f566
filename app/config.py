"""Typed configs of the search half, and the Hydra ConfigStore entries for every schema.

Each config group option in conf/ starts from one of these schemas (`/schema/<group>/<name>`),
so a misspelt key or a value of the wrong type fails while Hydra composes the config.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import MissingConfigException
from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from app.errors import describe, describe_under, renamed
from app.warm_start import WarmStartConfig
from child.data.datasets import DATASETS
from child.evaluation.config import ChildConfig
from child.evaluation.registry import EVALUATORS, REWARDS
from child.spaces import SPACES
from controller.factory import CONTROLLERS
from core.errors import ConfigError


@dataclass
class BudgetConfig:
    """How much search to do: children evaluated, children per controller update, time.

    app/validate.py `check_budget` bounds every key (at most a million children, a year).
    """

    children: int = 100  # children evaluated (cached repeats do not count)
    batch: int = 2  # children per controller update (M)
    minutes: float | None = None  # optional wall-clock limit
    max_samples: int | None = None  # cap on proposals, cached ones included; null = 20 × children
    # Stop once this many proposals in a row were cached repeats: the controller has converged
    # and would only re-propose what it has seen. 0 = never.
    patience: int = 100
    # Proposals the controller may run ahead of learning (the pipeline depth): another batch is
    # proposed while at most this many wait to be learned from, so workers never wait for a
    # step's slowest child. The same seed and depth give the same children on any number of
    # workers. null: as many as the evaluator has workers (0 with one); 0: synchronous steps.
    depth: int | None = None
    # Stop after the update in which a child's reward reaches this ("good enough"); null: never.
    # evaluator=shared: a child's shared-weight reward; controller=darts: the argmax's, per epoch.
    target_reward: float | None = None


@dataclass
class SearchConfig:
    """The whole search: one entry per config group, plus seed, budget and run options."""

    dataset: Any = MISSING
    search_space: Any = MISSING
    controller: Any = MISSING
    evaluator: Any = MISSING
    child: ChildConfig = field(default_factory=ChildConfig)
    reward: Any = MISSING
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    # Before the search, the controller learns from zero-cost proxy scores of this many
    # proposals (warm_start.children; 0: off). app/warm_start.py documents every key.
    warm_start: WarmStartConfig = field(default_factory=WarmStartConfig)
    seed: int = 0  # the run's seed: controller, validation split, and every child's seed
    cache: bool = True  # reuse the result of an architecture proposed again
    test_best: bool = True  # at the end, retrain the best child and report its test accuracy
    # After a search with a cheap score (evaluator=shared or proxy), train its top k
    # architectures alone with the search recipe and keep the best of them (app/finalists.py).
    # 0: off, the cheap score's first place is the pick.
    top_k: int = 0
    resume: str | None = None  # a run directory to continue, with the settings it started with
    progress: bool = True  # a progress bar and a line per step on the console
    # Draw best.png and pareto.png at the end (about a second; off for sweeps of many runs).
    plots: bool = True


@dataclass
class RetrainConfig:
    """Retraining one architecture from scratch (scripts/retrain.py)."""

    run: str | None = None  # a search run directory: its data set and space settings are used
    arch: str | None = None  # an architecture file (best.json, a children.jsonl line, an arch)
    source: str = "best"  # with run=: best (its best child) | favourite (the greedy pick)
    dataset: Any = MISSING
    search_space: Any = MISSING
    child: ChildConfig = field(default_factory=ChildConfig)
    seed: int = 0
    progress: bool = True


CONF_DIR = Path(__file__).resolve().parents[1] / "conf"

# Each config group's option schemas, from the parts its registry found; `child` is one recipe.
SCHEMAS: dict[str, dict[str, type]] = {
    "dataset": DATASETS.schemas(),
    "search_space": SPACES.schemas(),
    "controller": CONTROLLERS.schemas(),
    "evaluator": EVALUATORS.schemas(),
    "child": {"child": ChildConfig},
    "reward": REWARDS.schemas(),
}


def flatten_config(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested config as `{"a.b": value}`; the leaves are kept as they are."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_config(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _if_set(value: Any, then: Any, otherwise: Any) -> Any:
    return then if value not in (None, "") else otherwise


def _run_dir(resume: Any, fresh: str) -> str:
    """Hydra's run directory: the run to resume (which must be one), else a fresh one."""
    if resume in (None, ""):
        return fresh
    require_run_dir(Path(str(resume)), "resume")
    return str(resume)


JOB_NAME_LIMIT = 120  # characters of a sweep job's directory name, its number included


def job_dir_name(number: Any, overrides: Any) -> str:
    """A sweep job's directory: its number and overrides, e.g. `3-controller=lstm,seed=1`.

    `overrides` is Hydra's `override_dirname`, from which app/sweep_names.py leaves out the
    overrides that every job of the sweep shares.

    TensorBoard names runs by directory, so its run list then says what each run was. A `/`
    in a value would nest directories and becomes `_`; a name too long for a file system is cut
    and given a short hash of the whole, so that two long names never meet.
    """
    name = f"{number}-{overrides}" if overrides else str(number)
    name = name.replace("/", "_")
    if len(name) > JOB_NAME_LIMIT:
        digest = hashlib.sha1(name.encode()).hexdigest()[:8]
        name = f"{name[: JOB_NAME_LIMIT - 9]}~{digest}"
    return name


def require_run_dir(path: Path, key: str) -> None:
    """Raise ConfigError unless `path` is a search run directory (it has .hydra/config.yaml)."""
    if not path.is_dir():
        problem = "does not exist" if not path.exists() else "is not a directory"
        raise ConfigError(f"{key}={str(path)!r} is invalid: {problem}; expected a run directory")
    if not (path / ".hydra" / "config.yaml").is_file():
        raise ConfigError(
            f"{key}={str(path)!r} is invalid: it holds no .hydra/config.yaml, so it is not a "
            "search run directory"
        )


def register_configs() -> None:
    """Store the top-level schema as `search_schema` and each option schema as `/schema/...`.

    Also registers the resolvers conf/config.yaml uses to point Hydra's run directory at the
    run being resumed: `nas.if_set` (value, then, otherwise) and `nas.run_dir` (resume, fresh);
    and `nas.job_dir` (number, overrides), which names a sweep job's directory.
    """
    OmegaConf.register_new_resolver("nas.if_set", _if_set, replace=True)
    OmegaConf.register_new_resolver("nas.run_dir", _run_dir, replace=True)
    OmegaConf.register_new_resolver("nas.job_dir", job_dir_name, replace=True)
    cs = ConfigStore.instance()
    cs.store(name="search_schema", node=SearchConfig)
    cs.store(name="retrain_schema", node=RetrainConfig)
    for group, schemas in SCHEMAS.items():
        for name, node in schemas.items():
            cs.store(group=f"schema/{group}", name=name, node=node)


def typed_config(raw: DictConfig | dict[str, Any], root: type = SearchConfig) -> Any:
    """A `root` instance (by default a `SearchConfig`) from a composed or saved config.

    Saved configs (a run's .hydra/config.yaml) carry no types, so each group's schema is looked
    up by its `name` key. Raises ConfigError for an unknown name, a misspelt key or a bad type.
    """
    merged = OmegaConf.structured(root)
    # Plain values first: Hydra's `+key=value` can slip unknown keys into typed nodes, and
    # merging plain dicts into the schemas refuses them.
    raw = OmegaConf.create(OmegaConf.to_container(OmegaConf.create(raw), resolve=True))
    for key in raw:
        try:
            merged = _merge_key(merged, str(key), raw[key])
        except OmegaConfBaseException as err:
            raise ConfigError(describe_under(err, str(key))) from err
    try:
        return OmegaConf.to_object(merged)
    except OmegaConfBaseException as err:
        raise ConfigError(describe(err)) from err


def _merge_key(merged: DictConfig, key: str, node: Any) -> DictConfig:
    """Merge one top-level key; a config-group node is validated by its option's schema."""
    if key not in SCHEMAS or key == "child":
        return OmegaConf.merge(merged, {key: node})
    name = node.get("name") if isinstance(node, DictConfig) else None
    if name not in SCHEMAS[key]:
        known = ", ".join(sorted(SCHEMAS[key]))
        raise ConfigError(f"{key}.name={name!r} is unknown: expected one of {known}")
    merged[key] = OmegaConf.merge(OmegaConf.structured(SCHEMAS[key][name]), node)
    return merged


def compose_config(overrides: Sequence[str] = (), name: str = "config") -> DictConfig:
    """Compose conf/`name`.yaml with `overrides` in-process, as the scripts would see it.

    For notebooks, tests and benchmarks: `search_main(compose_config(["seed=1"]), run_dir)`.
    """
    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        try:
            return compose(name, overrides=list(overrides))
        except MissingConfigException as err:
            moved = renamed(err)  # e.g. controller=enas, now experiment=enas
            if moved is None:
                raise
            raise ConfigError(moved) from err
