"""The shape of the code and the config: one-way imports, one registration, one default."""

from __future__ import annotations

import ast
import dataclasses
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import controller
import controller.factory
from app.config import SCHEMAS, compose_config, typed_config
from child.data.datasets import DATASETS, DatasetDef
from child.evaluation.config import EvaluatorDef
from child.evaluation.registry import EVALUATORS, REWARDS
from child.evaluation.rewards import RewardDef
from child.spaces import SPACES, SpaceDef
from controller.base import ControllerDef
from controller.config import LSTMControllerConfig
from controller.factory import CONTROLLERS, build_controller
from controller.policy_gradient import PolicyGradientController
from core.errors import ConfigError
from core.registry import PartDef, Registry, discover
from core.space import SearchSpace
from tests.helpers import CONF, ROOT, run_search

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
    if group == "controller" and option == "zoph":
        assert cfg.reward.name == "zoph"  # the preset brings its paper's reward
    # Inherited presets (controller=enas from lstm, child=final from default) state their
    # changes too; every other value is the schema's own default.
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
    # Each option is a declared part (REGISTRIES, below) and each part has its option.
    for group in ("dataset", "search_space", "reward"):
        assert options(group) == sorted(SCHEMAS[group]) == sorted(REGISTRIES[group][0]), group
    for group in ("controller", "evaluator"):  # with presets of other options among them
        names = {
            getattr(typed_config(compose_config([f"{group}={o}"])), group).name
            for o in options(group)
        }
        assert names == set(SCHEMAS[group]) == set(REGISTRIES[group][0]), group
    # evaluator=table_oracle is a preset of table, not a part of its own.
    oracle = typed_config(compose_config(["evaluator=table_oracle"])).evaluator
    assert oracle.name == "table" and oracle.value_column == "cifar10_test_200ep"


def test_the_paper_presets_keep_the_papers_values():
    enas = typed_config(compose_config(["controller=enas"])).controller
    assert (enas.hidden_size, enas.lr, enas.tanh_constant, enas.entropy_weight) == (
        64,
        1e-3,
        1.5,
        1e-4,
    )
    assert (enas.baseline_decay, enas.skip_target, enas.skip_weight) == (0.99, 0.4, 0.8)
    zoph = typed_config(compose_config(["controller=zoph"]))
    assert (zoph.controller.hidden_size, zoph.controller.num_layers, zoph.controller.lr) == (
        35,
        2,
        6e-4,
    )
    assert (zoph.reward.window, zoph.reward.power) == (5, 3)


def test_every_space_is_registered_once_with_its_yaml_and_everything_it_declares():
    assert sorted(SPACES) == options("search_space")
    for name, space in SPACES.items():
        cfg = space.config()
        assert cfg.name == name
        assert space.space(cfg).name == name
        assert callable(space.network) and callable(space.format)


def extending_example(heading: str, name: str, folder: Path, monkeypatch):
    """The first Python block under `heading` in docs/extending.md, imported as module `name`."""
    text = (ROOT / "docs" / "extending.md").read_text()
    section = text[text.index(heading) :]
    code = section[section.index("```python\n") + len("```python\n") :]
    path = folder / f"{name.rpartition('.')[2]}.py"
    path.write_text(code[: code.index("```")])
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def readme_space_module(tmp_path: Path, monkeypatch):
    """The "Adding a search space" example of docs/extending.md, imported as a module."""
    return extending_example("## Adding a search space", "readme_mlp", tmp_path, monkeypatch)


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


REGISTRIES = {
    "dataset": (DATASETS, DatasetDef),
    "search_space": (SPACES, SpaceDef),
    "controller": (CONTROLLERS, ControllerDef),
    "evaluator": (EVALUATORS, EvaluatorDef),
    "reward": (REWARDS, RewardDef),
}


@pytest.mark.parametrize("group", sorted(REGISTRIES))
def test_every_part_kind_is_discovered_with_its_schema_and_check(group):
    registry, kind = REGISTRIES[group]
    assert len(registry) >= 2 and registry.key == group
    assert SCHEMAS[group] == {name: part.config for name, part in registry.items()}
    for name, part in registry.items():
        assert isinstance(part, kind) and part.name == name
        cfg = part.config()
        assert cfg.name == name  # the schema's own name is the option it declares
        if group == "search_space":  # a space checks its config in its constructor
            continue
        try:
            registry.check(cfg)  # the defaults pass...
        except ConfigError as err:  # ...but for data files that this checkout lacks
            assert str(err).startswith("dataset.path="), err
    with pytest.raises(ConfigError, match=f"{group}.name='nope' is unknown: expected one of"):
        registry.find("nope")


def test_discovery_refuses_a_name_declared_twice(tmp_path, monkeypatch):
    package = tmp_path / "twice"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for module in ("a", "b"):
        (package / f"{module}.py").write_text(
            "from core.registry import PartDef\nPART = PartDef(name='x', config=dict)\n"
        )
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("twice", "twice.a", "twice.b"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    with pytest.raises(RuntimeError, match="'x' is declared twice: in twice.a and in twice.b"):
        discover("twice", PartDef, "PART")
    for name in ("twice", "twice.a", "twice.b"):
        sys.modules.pop(name, None)


def test_the_extending_example_controller_registers_builds_and_searches(tmp_path, monkeypatch):
    # Put the page's controller/greedy.py where discovery looks: one more folder of `controller`.
    monkeypatch.setattr(controller, "__path__", [*controller.__path__, str(tmp_path)])
    module = extending_example("## Adding a controller", "controller.greedy", tmp_path, monkeypatch)
    found = Registry("controller", "controller", ControllerDef, "CONTROLLER")
    assert set(found) == set(CONTROLLERS) | {"greedy"}
    definition = found["greedy"]
    assert definition is module.CONTROLLER and definition.config is module.GreedyControllerConfig
    monkeypatch.setattr(controller.factory, "CONTROLLERS", found)
    monkeypatch.setitem(SCHEMAS["controller"], "greedy", definition.config)

    space: SearchSpace = SPACES["nb201"].space(SPACES["nb201"].config())
    greedy = build_controller(definition.config(epsilon=0.1), space, seed=0)
    for _ in range(5):
        archs = greedy.propose(4)
        greedy.learn(archs, [float(len(str(a)) % 7) for a in archs])
    twin = build_controller(definition.config(epsilon=0.1), space, seed=1)
    twin.load_state_dict(greedy.state_dict())
    assert twin.propose(8) == greedy.propose(8) and twin.favourite() == greedy.favourite()

    with pytest.raises(ConfigError, match=r"^controller.epsilon=2 is invalid: expected a share"):
        build_controller(definition.config(epsilon=2), space, seed=0)

    # A tiny search on the NAS-Bench-201 table, chosen by name as `controller=greedy` would.
    summary, _ = run_search(
        tmp_path / "run",
        [
            "search_space=nb201",
            "evaluator=table",
            "controller=random",
            "controller.name=greedy",
            "+controller.epsilon=0.3",
            "budget.children=12",
            "budget.batch=4",
            "plots=false",
            "progress=false",
        ],
    )
    assert summary["children"] == 12, summary
