"""The one validation pass, run before any data is loaded, worker started or file written.

Each part checks its own settings: a controller's, evaluator's, data set's or reward's config
has a `check()` (called through its registry, which also refuses an unknown name), a space's
constructor checks its config, and the trainer's `check_recipe` the recipe. This module calls
them all, in one place, and adds what concerns the whole run: finite numbers everywhere, the
seed and the budget, and the combinations of parts that cannot work together.
"""

from __future__ import annotations

import math
from dataclasses import fields, is_dataclass
from typing import Any

from app.config import SearchConfig
from app.finalists import check_top_k
from app.warm_start import check_warm_start
from child.data.config import UserDataConfig
from child.data.datasets import DATASETS
from child.evaluation.config import ChildConfig, SharedEvaluatorConfig, TableEvaluatorConfig
from child.evaluation.proxy import ProxyEvaluatorConfig, check_proxy_reward
from child.evaluation.registry import EVALUATORS, REWARDS
from child.evaluation.shared import check_shared_space, supernet_builder
from child.evaluation.trainer import check_recipe
from child.spaces import build_space
from controller.config import DartsControllerConfig
from controller.factory import check_controller
from core.errors import ConfigError, require

# numpy's SeedSequence and torch.manual_seed take any int in [0, 2**63).
MAX_SEED = 2**63 - 1


def validate(cfg: SearchConfig) -> None:
    """Raise ConfigError, naming the key, for the first setting of `cfg` that cannot work."""
    check_finite(cfg)
    require(0 <= cfg.seed <= MAX_SEED, "seed", cfg.seed, f"an int in [0, {MAX_SEED}]")
    check_budget(cfg)
    check_controller(cfg.controller)
    if isinstance(cfg.controller, DartsControllerConfig) and not isinstance(
        cfg.evaluator, SharedEvaluatorConfig
    ):
        raise ConfigError(
            f"controller=darts is invalid with evaluator={cfg.evaluator.name}: expected "
            "evaluator=shared (DARTS trains its architecture weights through the supernet)"
        )
    if isinstance(cfg.controller, DartsControllerConfig):
        refusal = cfg.evaluator.darts_refusal()
        if refusal is not None:
            raise ConfigError(refusal)
    check_recipe(cfg.child)
    REWARDS.check(cfg.reward)
    cfg.reward.check_metric()
    check_cost_metric(cfg)
    if cfg.reward.metric != "accuracy" and isinstance(
        cfg.evaluator, TableEvaluatorConfig | SharedEvaluatorConfig
    ):
        raise ConfigError(
            f"reward.metric={cfg.reward.metric!r} is invalid with evaluator={cfg.evaluator.name}: "
            "expected accuracy (only trained children have their predictions scored)"
        )
    build_space(cfg.search_space)
    if not isinstance(cfg.evaluator, TableEvaluatorConfig):  # a table needs no data set
        DATASETS.check(cfg.dataset)
    elif isinstance(cfg.dataset, UserDataConfig):
        raise ConfigError(
            f"dataset={cfg.dataset.name} is invalid with evaluator=table: a table's rewards "
            "were measured on its own data and it reads none; train on yours with "
            "evaluator=local (or shared)"
        )
    if isinstance(cfg.evaluator, SharedEvaluatorConfig):
        check_shared(cfg)
    if isinstance(cfg.evaluator, ProxyEvaluatorConfig):
        check_proxy_reward(cfg.evaluator.name, cfg.reward)
    check_warm_start(cfg.warm_start, cfg.controller.name, cfg.evaluator.name)
    check_top_k(cfg.top_k, cfg.evaluator.name, cfg.controller.name)
    EVALUATORS.check(cfg.evaluator)


# Limits far beyond any search, so that a typo (1e20) is refused instead of running until
# another stop: a million children, twenty proposals per child, a year of wall time.
MAX_CHILDREN = 1_000_000
MAX_SAMPLES = 20 * MAX_CHILDREN
MAX_MINUTES = 365 * 24 * 60


def check_budget(cfg: SearchConfig) -> None:
    """Children, batch, minutes and the proposal cap must allow a search to finish."""
    b = cfg.budget
    require(
        1 <= b.children <= MAX_CHILDREN,
        "budget.children",
        b.children,
        f"an int in [1, {MAX_CHILDREN}]",
    )
    require(
        1 <= b.batch <= b.children,
        "budget.batch",
        b.batch,
        f"an int in [1, budget.children={b.children}]",
    )
    require(
        b.minutes is None or 0 < b.minutes <= MAX_MINUTES,
        "budget.minutes",
        b.minutes,
        f"null or in (0, {MAX_MINUTES}] (a year)",
    )
    require(
        b.max_samples is None or b.children <= b.max_samples <= MAX_SAMPLES,
        "budget.max_samples",
        b.max_samples,
        f"null or an int in [budget.children={b.children}, {MAX_SAMPLES}]",
    )
    require(
        0 <= b.patience <= MAX_SAMPLES,
        "budget.patience",
        b.patience,
        f"an int in [0, {MAX_SAMPLES}] (0 = never stop early)",
    )
    require(
        b.depth is None or 0 <= b.depth <= MAX_CHILDREN,
        "budget.depth",
        b.depth,
        f"null or an int in [0, {MAX_CHILDREN}]",
    )


def check_cost_metric(cfg: SearchConfig) -> None:
    """A table lists params and FLOPs but no latency; only a table lists FLOPs."""
    metric = getattr(cfg.reward, "cost_metric", None)
    on_table = isinstance(cfg.evaluator, TableEvaluatorConfig)
    if metric == "latency" and on_table:
        raise ConfigError(
            "reward.cost_metric='latency' is invalid with evaluator=table: expected params or "
            "flops (a table lists no latency)"
        )
    if metric == "flops" and not on_table:
        raise ConfigError(
            f"reward.cost_metric='flops' is invalid with evaluator={cfg.evaluator.name}: "
            "expected params or latency (FLOPs come from a table's flops column)"
        )


def check_finite(cfg: Any, prefix: str = "") -> None:
    """Refuse NaN and ±inf in every float setting of a config dataclass, nested ones included.

    No setting of this project means anything at NaN or infinity: a NaN learning rate or
    reward weight would only surface later as a crash or a silently broken search.
    """
    for f in fields(cfg):
        value = getattr(cfg, f.name)
        key = f"{prefix}{f.name}"
        if is_dataclass(value):
            check_finite(value, f"{key}.")
        for item in value if isinstance(value, list | tuple) else [value]:
            if isinstance(item, float) and not math.isfinite(item):
                raise ConfigError(f"{key}={value!r} is invalid: expected a finite number")


# Recipe fields the supernet takes from `child.*` instead: it trains where the data is.
UNUSED_SHARED_RECIPE = ("device", "threads", "precision", "compile", "eval_batch_size")


def check_shared(cfg: SearchConfig) -> None:
    """Weight sharing needs a space with a supernet, the plain accuracy reward, a sane recipe.

    The evaluator's own counts are its config's `check()`.
    """
    shared = cfg.evaluator
    supernet_builder(cfg.search_space)
    require(
        cfg.reward.name == "val_acc",
        "reward",
        cfg.reward.name,
        "val_acc with evaluator=shared (a child's reward is its shared-weight accuracy)",
    )
    check_recipe(shared.recipe, key="evaluator.recipe")
    shared.check()  # before the space check, which reads few_shot_split's form
    if shared.derive_prior:
        ProxyEvaluatorConfig(proxy=shared.derive_prior).check_proxy("evaluator.derive_prior")
    check_shared_space(shared, cfg.search_space)
    default = ChildConfig()
    for name in UNUSED_SHARED_RECIPE:
        value = getattr(shared.recipe, name)
        require(
            value == getattr(default, name),
            f"evaluator.recipe.{name}",
            value,
            f"unset: the supernet uses child.{name}",
        )
