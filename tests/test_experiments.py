"""The tuned and published presets are experiments that compose what the old presets did.

Until issue 20 they were `controller=<name>` files, and the cells per update, space and
evaluator they were tuned with had to be typed by hand; each is now `experiment=<name>`.
"""

from __future__ import annotations

from typing import Any

import pytest
from omegaconf import OmegaConf

from app.config import compose_config
from core.errors import ConfigError

# Every old `controller=<name>` preset, value for value, from its YAML file (the values it
# changed from its algorithm's defaults, its parent's included), with the budget.batch, space,
# evaluator and reward it was tuned or published with (benchmarks/nb201_protocol.py's METHODS
# for the NAS-Bench-201 ones; the old enas.yaml's note for ENAS's batch).
NB201 = {"search_space": "nb201", "evaluator": "table"}
EXPECTED: dict[str, dict[str, Any]] = {
    "lstm_nb201": {
        "controller": {"name": "lstm", "tanh_constant": 2.0},
        "budget.batch": 1,
        **NB201,
    },
    "ppo": {"controller": {"name": "lstm", "update": "ppo"}, "budget.batch": 10, **NB201},
    "softmax_nb201": {
        # issue 22: the baseline of before, which the retuning kept (controller=softmax's changed)
        "controller": {
            "name": "softmax",
            "lr": 0.3,
            "baseline_first": False,
            "baseline_debias": False,
        },
        "budget.batch": 10,
        **NB201,
    },
    "evolution_nb201": {
        # issue 22: the tournament of before, which the retuning kept (the default changed)
        "controller": {
            "name": "evolution",
            "population": 25,
            "tournament": "without_replacement",
        },
        "budget.batch": 10,
        **NB201,
    },
    "evolution_paper": {
        # issue 22: the reference code's node-then-edge mutation
        "controller": {
            "name": "evolution",
            "population": 10,
            "sample_size": 3,
            "mutation": "grouped",
        },
        "budget.batch": 1,
        **NB201,
    },
    "enas": {
        "controller": {
            "name": "lstm",
            "lr": 1.0e-3,
            "tanh_constant": 1.5,
            "baseline_decay": 0.99,
            "baseline_first": True,  # issue 22: ENAS's baseline order and entropy bonus
            "entropy_reward": True,
            "skip_weight": 0.8,
            "skip_kl_average": True,
        },
        "budget.batch": 20,
        "search_space": "macro",
        "evaluator": "shared",
        "evaluator.derive_by": "accuracy",  # ENAS keeps the most accurate sample
    },
    "zoph": {
        "controller": {
            "name": "lstm",
            "hidden_size": 35,
            "num_layers": 2,
            "lr": 6.0e-4,
            "tanh_constant": 0.0,
            "entropy_weight": 0.0,
        },
        "reward": "zoph",
        # Zoph & Le's preset never set a batch: the default's
        "search_space": "macro",
        "evaluator": "local",
    },
}


def spelled_out(expected: dict[str, Any]) -> list[str]:
    """The overrides that compose `expected` from the algorithm files alone."""
    values = dict(expected)
    controller = dict(values.pop("controller"))
    overrides = [f"controller={controller.pop('name')}"]
    overrides += [f"controller.{key}={value}" for key, value in controller.items()]
    return overrides + [f"{key}={value}" for key, value in values.items()]


def plain(overrides: list[str]) -> dict:
    """The composed config as plain containers, interpolations unresolved."""
    return OmegaConf.to_container(compose_config(overrides))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_experiment_composes_its_old_preset_with_what_it_was_tuned_with(name):
    cfg = plain([f"experiment={name}"])
    expected = EXPECTED[name]
    for key, value in expected["controller"].items():
        assert cfg["controller"][key] == value, key
    assert cfg["budget"]["batch"] == expected.get("budget.batch", plain([])["budget"]["batch"])
    assert cfg["search_space"]["name"] == expected["search_space"]
    assert cfg["evaluator"]["name"] == expected["evaluator"]
    assert cfg["reward"]["name"] == expected.get("reward", "val_acc")
    assert cfg == plain(spelled_out(expected))  # every other value: the algorithm file's


def test_overrides_after_an_experiment_still_win():
    cfg = compose_config(["experiment=lstm_nb201", "budget.batch=10", "evaluator=table_oracle"])
    assert (cfg.budget.batch, cfg.evaluator.value_column) == (10, "cifar10_test_200ep")
    assert cfg.controller.tanh_constant == 2.0


def test_enas_mnist1d_is_enas_sized_for_a_cpu():
    mnist1d, enas = plain(["experiment=enas_mnist1d"]), plain(["experiment=enas"])
    assert mnist1d["controller"] == enas["controller"]
    assert mnist1d["budget"] == enas["budget"]
    # What it composed before it built on experiment=enas, spelled out.
    sized = [
        "search_space=macro",
        "search_space.num_layers=12",
        "search_space.widths=[32]",
        "search_space.sum_norm=true",
        "evaluator.recipe.epochs=60",
        "evaluator.controller_steps=2",
        "evaluator.derive_by=loss",  # tuned on seed 0 of the ranking benchmark (issue 21)
    ]
    assert mnist1d == plain([*spelled_out(EXPECTED["enas"]), *sized])


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_old_spelling_names_the_experiment(name):
    with pytest.raises(ConfigError, match=f"^controller={name} is now an experiment: ") as info:
        compose_config([f"controller={name}"])
    assert f"use experiment={name} (it sets " in str(info.value)
