"""The shape of the code and the config: one-way imports, one registration, one default."""

from __future__ import annotations

import ast
import dataclasses
import importlib.util
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml
from omegaconf import OmegaConf

from app.config import SCHEMAS, compose_config, typed_config
from child.spaces import SPACES, SpaceDef
from controller.config import LSTMControllerConfig
from controller.policy_gradient import PolicyGradientController
from core.errors import ConfigError
from tests.helpers import CONF, ROOT

GROUPS = ("dataset", "search_space", "controller", "evaluator", "child", "reward")


def imported_packages(package: str) -> dict[str, set[str]]:
    """For every module of `package`, the top-level packages it imports."""
    found = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names
    return found


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("child", {"app", "controller"}),
        ("controller", {"app", "child"}),
        ("core", {"app", "child", "controller"}),
    ],
)
def test_imports_flow_one_way(package, forbidden):
    # core ← child, core ← controller, and app joins them; nothing reaches back into app.
    offenders = {
        m: sorted(n & forbidden) for m, n in imported_packages(package).items() if n & forbidden
    }
    assert offenders == {}


def test_the_import_check_sees_imports():
    assert "core" in imported_packages("controller")["controller/base.py"]
    assert "torch" in imported_packages("child")["child/evaluation/trainer.py"]


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def stated_keys(group: str, option: str) -> dict:
    """The keys an option's YAML file sets itself (its defaults list aside)."""
    data = yaml.safe_load((CONF / group / f"{option}.yaml").read_text()) or {}
    return {k: v for k, v in data.items() if k != "defaults"}


@pytest.mark.parametrize(
    ("group", "option"), [(g, o) for g in GROUPS for o in options(g)], ids=lambda x: x
)
def test_every_option_composes_and_states_only_what_it_changes(group, option):
    cfg = typed_config(compose_config([f"{group}={option}"]))
    node = getattr(cfg, group)
    schema = type(node)
    defaults = dataclasses.asdict(schema())
    values = dataclasses.asdict(node)
    stated = stated_keys(group, option)
    # Inherited options (child=final from default) state their changes too; every other value
    # is the schema's own default. Tuned and published settings are experiments (below).
    for key, value in values.items():
        if key in stated:
            assert (
                value == pytest.approx(stated[key])
                if isinstance(value, float)
                else value == stated[key]
            )
            assert stated[key] != defaults[key], f"{group}/{option}.yaml restates {key}"
        else:
            assert value == defaults[key], f"{group}={option} changed {key} without stating it"


def test_each_group_option_has_a_schema_and_each_schema_an_option():
    # One controller file per algorithm: tuned and published settings are experiments.
    for group in ("dataset", "search_space", "reward", "controller"):
        assert options(group) == sorted(SCHEMAS[group]), group


def experiment_parts(name: str) -> tuple[dict[str, str], dict, dict]:
    """An experiment's group choices and stated values, its parent experiments' included.

    Returns (group → option, all stated values merged, the values its parents state).
    """
    data = yaml.safe_load((CONF / "experiment" / f"{name}.yaml").read_text())
    choices: dict[str, str] = {}
    inherited: dict = {}
    for entry in data.get("defaults", []):
        if isinstance(entry, str):  # another experiment it builds on ("_self_" aside)
            if entry != "_self_":
                parent_choices, parent_stated, _ = experiment_parts(entry)
                choices |= parent_choices
                inherited = OmegaConf.to_container(OmegaConf.merge(inherited, parent_stated))
        else:  # "override /search_space": "macro"
            ((key, option),) = entry.items()
            choices[key.removeprefix("override /")] = option
    own = {k: v for k, v in data.items() if k != "defaults"}
    stated = OmegaConf.to_container(OmegaConf.merge(inherited, own))
    return choices, stated, inherited


def flat(tree: Any, prefix: str = "") -> dict[str, Any]:
    """A nested dict as {"a.b.c": leaf}; lists are leaves."""
    if not isinstance(tree, dict):
        return {prefix: tree}
    out: dict[str, Any] = {}
    for key, value in tree.items():
        out |= flat(value, f"{prefix}.{key}" if prefix else str(key))
    return out


@pytest.mark.parametrize("name", options("experiment"))
def test_every_experiment_states_only_what_it_changes(name):
    # An experiment = the group options it picks + the values it states (its parents' too);
    # every other value is that of the options it picks, and nothing is restated.
    choices, stated, inherited = experiment_parts(name)
    own = flat(yaml.safe_load((CONF / "experiment" / f"{name}.yaml").read_text()))
    own = {k: v for k, v in own.items() if not k.startswith("defaults")}
    composed = flat(OmegaConf.to_container(compose_config([f"experiment={name}"])))
    picked = compose_config([f"{group}={option}" for group, option in choices.items()])
    base = flat(OmegaConf.to_container(picked))
    stated, inherited = flat(stated), flat(inherited)
    assert composed.keys() == base.keys()
    assert stated.keys() <= base.keys(), f"experiment/{name}.yaml states unknown keys"
    for key, value in composed.items():
        if key in stated:
            assert value == stated[key]
            assert stated[key] != base[key], f"experiment/{name}.yaml restates {key}"
        else:
            assert value == base[key], f"experiment={name} changed {key} without stating it"
    for key, value in own.items():
        assert key not in inherited or value != inherited[key], f"{name} restates its parent's"


def test_the_paper_presets_keep_the_papers_values():
    enas = typed_config(compose_config(["experiment=enas"]))
    c = enas.controller
    assert (c.name, c.hidden_size, c.lr, c.tanh_constant, c.entropy_weight) == (
        "lstm",
        64,
        1e-3,
        1.5,
        1e-4,
    )
    assert (c.baseline_decay, c.skip_target, c.skip_weight, c.skip_kl_average) == (
        0.99,
        0.4,
        0.8,
        True,
    )
    assert (enas.evaluator.name, enas.budget.batch) == ("shared", 20)  # controller_num_aggregate
    zoph = typed_config(compose_config(["experiment=zoph"]))
    assert (zoph.controller.hidden_size, zoph.controller.num_layers, zoph.controller.lr) == (
        35,
        2,
        6e-4,
    )
    assert (zoph.reward.name, zoph.reward.window, zoph.reward.power) == ("zoph", 5, 3)
    paper = typed_config(compose_config(["experiment=evolution_paper"]))
    assert (paper.controller.population, paper.controller.sample_size) == (10, 3)
    assert (paper.search_space.name, paper.evaluator.name, paper.budget.batch) == (
        "nb201",
        "table",
        1,
    )


def test_every_space_is_registered_once_with_its_yaml_and_everything_it_declares():
    assert sorted(SPACES) == options("search_space")
    for name, space in SPACES.items():
        cfg = space.config()
        assert cfg.name == name
        assert space.space(cfg).name == name
        assert callable(space.network) and callable(space.format)


def readme_space_module(tmp_path: Path, monkeypatch):
    """The README's "Adding a search space" example, imported as a module."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Adding a search space") :]
    code = section[section.index("```python\n") + len("```python\n") :]
    path = tmp_path / "readme_mlp.py"
    path.write_text(code[: code.index("```")])
    spec = importlib.util.spec_from_file_location("readme_mlp", path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "readme_mlp", module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_the_readme_example_space_is_complete_and_works(tmp_path, monkeypatch):
    definition = readme_space_module(tmp_path, monkeypatch).SPACE
    assert isinstance(definition, SpaceDef) and definition.name == "mlp"
    space = definition.space(definition.config())
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(20)]
    assert all(space.decode(space.encode(a)) == a for a in archs)
    assert definition.format(archs[0]).startswith("mlp[")
    net = definition.network(archs[0], (1, 8, 8), 10, definition.config())
    assert net(torch.randn(2, 1, 8, 8)).shape == (2, 10)
    controller = PolicyGradientController(space, LSTMControllerConfig(), seed=0)
    assert len({a for a in controller.propose(30)}) > 1
    with pytest.raises(ConfigError, match="search_space.units"):
        definition.space(definition.config(units=[]))
