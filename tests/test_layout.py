"""The shape of the code and the config: one-way imports, one registration, one default."""

from __future__ import annotations

import ast
import dataclasses
import importlib.util
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml
from omegaconf import OmegaConf

import controller
import controller.factory
from app.config import SCHEMAS, compose_config, typed_config
from child.data.datasets import DATASETS, DatasetDef
from child.evaluation.evaluator import EvaluatorDef
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
    # Each option is a declared part (REGISTRIES, below) and each part has its option.
    # One controller file per algorithm: tuned and published settings are experiments.
    for group in ("dataset", "search_space", "reward", "controller"):
        assert options(group) == sorted(SCHEMAS[group]) == sorted(REGISTRIES[group][0]), group
    for group in ("evaluator",):  # with presets of other options among them
        names = {
            getattr(typed_config(compose_config([f"{group}={o}"])), group).name
            for o in options(group)
        }
        assert names == set(SCHEMAS[group]) == set(REGISTRIES[group][0]), group
    # evaluator=table_oracle is a preset of table, not a part of its own.
    oracle = typed_config(compose_config(["evaluator=table_oracle"])).evaluator
    assert oracle.name == "table" and oracle.value_column == "cifar10_test_200ep"


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
            # Equal to the option's value only to undo a parent's change (enas_mnist1d derives
            # by loss, the default, where its parent enas derives by accuracy).
            undoes_parent = key in inherited and inherited[key] != stated[key]
            assert stated[key] != base[key] or undoes_parent, f"{name}.yaml restates {key}"
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


# --- no import cycles -----------------------------------------------------------------------

PRODUCT_PACKAGES = ("app", "child", "controller", "core")


def module_name(path: Path, root: Path) -> str:
    """The dotted name of the module in file `path` (a package's `__init__.py`: the package)."""
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path, packages: Sequence[str]) -> dict[str, set[str]]:
    """Module → the modules of `packages` it imports, wherever in its file the import stands.

    Imports under `if TYPE_CHECKING:` and inside functions count: each is a dependency all the
    same, and a cycle through one is a cycle in the design even when Python tolerates it.
    `from pkg import name` is an edge to `pkg.name` when that is a module, else to `pkg`; a
    module's parent packages, which Python runs first, are not edges (every submodule would
    otherwise close a cycle with a package that re-exports it). `importlib` calls are not seen.
    """
    paths = [path for package in packages for path in sorted((root / package).rglob("*.py"))]
    files = {module_name(path, root): path for path in paths}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative: level 1 is this module's package
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    origin = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    origin = node.module or ""
                submodules = [f"{origin}.{alias.name}" for alias in node.names]
                targets = [m for m in submodules if m in files]
                if len(targets) < len(submodules):  # some names are defined in `origin` itself
                    targets.append(origin)
            else:
                continue
            for target in targets:
                # `import a.b.c` depends on a.b.c; a name outside the project is no edge.
                while target and target not in files:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    edges.add(target)
        graph[name] = edges
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (a path that ends where it starts) per knot of mutually importing modules."""
    # Tarjan's strongly connected components, then a shortest way round each one.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    components: list[set[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in sorted(graph.get(module, ())):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = set()
            while True:
                member = stack.pop()
                component.add(member)
                if member == module:
                    break
            if len(component) > 1:
                components.append(component)

    for module in sorted(graph):
        if module not in index:
            visit(module)
    cycles = []
    for component in components:
        start = min(component)
        paths = {start: [start]}
        queue = [start]
        while queue:  # breadth first inside the component, back to `start`
            module = queue.pop(0)
            targets = sorted(graph[module] & component)
            if start in targets:
                cycles.append([*paths[module], start])
                break
            for target in targets:
                if target not in paths:
                    paths[target] = [*paths[module], target]
                    queue.append(target)
    return cycles


def test_no_module_imports_itself_round_a_cycle():
    cycles = import_cycles(import_graph(ROOT, PRODUCT_PACKAGES))
    assert cycles == [], "import cycles:\n" + "\n".join(" → ".join(c) for c in cycles)


def test_the_cycle_check_sees_type_checking_and_function_level_imports(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("from pkg.a import A\n")
    (tmp_path / "pkg" / "a.py").write_text("from pkg import b\nA = 1\n")
    (tmp_path / "pkg" / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .c import C\n"
    )
    (tmp_path / "pkg" / "c.py").write_text("def f():\n    import pkg.a\nC = 1\n")
    (tmp_path / "pkg" / "d.py").write_text("import torch\nfrom pkg import A\n")
    graph = import_graph(tmp_path, ["pkg"])
    assert graph["pkg.d"] == {"pkg"} and graph["pkg"] == {"pkg.a"}
    assert import_cycles(graph) == [["pkg.a", "pkg.b", "pkg.c", "pkg.a"]]


# --- nothing outside a space's folder names the space -----------------------------------------

# Code that runs a search: tests/, benchmarks/, conf/ (experiments pick spaces by name) and the
# docs may name spaces, and so may a space's own folder, child/spaces/<name>/.
PRODUCT_CODE = ("app", "child", "controller", "core", "scripts")
# Space names that are also a word of the shared model: every architecture has `layers`
# (`Architecture.layers`, its serialised key "layers", `num_layers`...), so for the layers space
# only its CamelCase names (LayersSpace, LayersNet) and its imports and file names are sought.
COMMON_WORDS = frozenset({"layers"})


def _starts_a_word(identifier: str, name: str) -> bool:
    """Whether a word of `identifier` (split at "_") begins with space `name`, in any case."""
    if name in COMMON_WORDS:
        return any(word.startswith(name.capitalize()) for word in identifier.split("_"))
    return any(word.lower().startswith(name) for word in identifier.split("_"))


def space_mentions(tree: ast.AST, names: Sequence[str]) -> list[tuple[int, str, str]]:
    """(line, space, what) for every place `tree` names one of the spaces `names`.

    The rule: a module names space N when it
    1. imports `child.spaces.N` or a module in it (anywhere: TYPE_CHECKING blocks, functions);
    2. holds a string literal (f-string parts too) without whitespace that, cut at every
       character other than a letter, digit or "_", has a piece equal to N in any case:
       "nb201", "nb201.csv", "search_space=macro", but not "macro_f1" (a macro-averaged metric),
       and never prose (docstrings, messages and comments have spaces, or are not code);
    3. has an identifier (a name, attribute, function, class, argument or keyword) a word of
       which, split at "_", begins with N in any case: NB201Net, build_macro_network,
       RNNSupernet, MACRO_OPS (for a name in COMMON_WORDS only a capitalised word: LayersNet).
    """
    found = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        modules: list[str] = []
        identifiers: list[str] = []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
            identifiers = [alias.asname for alias in node.names if alias.asname]
        elif isinstance(node, ast.ImportFrom):
            origin = node.module or ""
            modules = [origin, *(f"{origin}.{alias.name}" for alias in node.names)]
            identifiers = [n for alias in node.names for n in (alias.name, alias.asname) if n]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if not any(c.isspace() for c in node.value):
                pieces = {p.lower() for p in re.split(r"[^A-Za-z0-9_]+", node.value)}
                found += [
                    (line, n, f"string {node.value!r}")
                    for n in names
                    if n in pieces and n not in COMMON_WORDS
                ]
        elif isinstance(node, ast.Name):
            identifiers = [node.id]
        elif isinstance(node, ast.Attribute):
            identifiers = [node.attr]
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            identifiers = [node.name]
        elif isinstance(node, ast.arg | ast.keyword):
            identifiers = [node.arg] if node.arg else []
        for module in modules:
            parts = module.split(".")
            found += [
                (line, n, f"import {module}") for n in names if parts[:3] == ["child", "spaces", n]
            ]
        for identifier in identifiers:
            found += [(line, n, identifier) for n in names if _starts_a_word(identifier, n)]
    return sorted(set(found))


def test_no_product_code_outside_a_spaces_folder_names_the_space():
    names = sorted(SPACES)
    offenders = []
    for package in PRODUCT_CODE:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT)
            own = relative.parts[2] if relative.parts[:2] == ("child", "spaces") else None
            # A file's name and folders are names too (scripts/nb201_costs.py would be one).
            for n in names:
                if n != own and any(_starts_a_word(p, n) for p in relative.with_suffix("").parts):
                    offenders.append(f"{relative}: its path names {n}")
            tree = ast.parse(path.read_text(), filename=str(path))
            offenders += [
                f"{relative}:{line}: {what} names {n}"
                for line, n, what in space_mentions(tree, names)
                if n != own
            ]
    assert offenders == [], "\n".join(offenders)


def test_the_space_name_check_sees_code_and_not_prose():
    source = '''
"""A docstring about the macro space and NB201 cells, and the layers of a network."""
import child.spaces.rnn.network
from child.spaces.layers import space as chosen
from child.spaces import SPACES

def build(arch, num_layers):
    """Build a macro net."""
    if arch.space == "nb201":  # a comment about rnn cells
        return NB201Net(arch.layers, num_layers, metric="macro_f1", path="tables/macro.csv")
    return LayersNet(f"the macro space: {arch}", layers=arch.layers)

def build_rnn_network(): ...
'''
    found = {(line, n) for line, n, _ in space_mentions(ast.parse(source), sorted(SPACES))}
    assert found == {
        (3, "rnn"),  # import child.spaces.rnn.network
        (4, "layers"),  # from child.spaces.layers import ...
        (9, "nb201"),  # "nb201"
        (10, "nb201"),  # NB201Net
        (10, "macro"),  # "tables/macro.csv"
        (11, "layers"),  # LayersNet
        (13, "rnn"),  # build_rnn_network
    }


def runtime_imports(tree: ast.Module) -> set[str]:
    """The top-level packages a module imports when it runs (`if TYPE_CHECKING:` blocks aside)."""
    typing_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for statement in node.body
        for inner in ast.walk(statement)
    }
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_core_runs_without_torch():
    # core's protocols (core.supernet) name torch's types for type checkers only.
    heavy = [
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / "core").rglob("*.py"))
        if "torch" in runtime_imports(ast.parse(path.read_text()))
    ]
    assert heavy == []
    assert "torch" not in runtime_imports(
        ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import torch\n")
    )
    assert "torch" in runtime_imports(ast.parse("def f():\n    import torch\n"))


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
