import dataclasses
import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.errors import ConfigCompositionException

from app.config import compose_config, typed_config
from child.evaluation.config import TableEvaluatorConfig
from child.evaluation.costs import count_params
from child.evaluation.evaluator import ChildJob
from child.evaluation.table import ResultTable, TableEvaluator
from child.spaces import SPACES, build_network, build_space, format_arch
from child.spaces.nb201.network import NB201Net
from child.spaces.nb201.space import (
    NB201_OPS,
    NB201Space,
    NB201SpaceConfig,
    edge_ops,
    make_arch,
    parse_nb201_string,
    to_nb201_string,
)
from core.architecture import Architecture, Layer
from core.errors import ConfigError
from tests.helpers import run_search

SPACE = NB201Space.from_config(NB201SpaceConfig())
EXAMPLE = (
    "|nor_conv_3x3~0|"
    "+|nor_conv_3x3~0|avg_pool_3x3~1|"
    "+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
)
BEST = (  # the best 200-epoch CIFAR-10 test accuracy (94.37%; a second cell ties)
    "|nor_conv_3x3~0|"
    "+|nor_conv_3x3~0|nor_conv_3x3~1|"
    "+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
)
VALID_BEST = (  # the best 12-epoch validation accuracy (84.89%): the other 94.37% cell
    "|nor_conv_3x3~0|"
    "+|nor_conv_3x3~0|nor_conv_3x3~1|"
    "+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|"
)
SMALL = NB201SpaceConfig(channels=4, cells_per_stage=1)


@pytest.fixture(scope="module")
def table() -> ResultTable:
    return ResultTable.from_config()


# ---- the space -----------------------------------------------------------------------------


def test_decisions_are_six_edges_sharing_the_op_head():
    pairs = SPACE.walk([0] * 6)
    assert [d.name for d, _ in pairs] == [
        "edge(1<-0)",
        "edge(2<-0)",
        "edge(2<-1)",
        "edge(3<-0)",
        "edge(3<-1)",
        "edge(3<-2)",
    ]
    assert {d.head for d, _ in pairs} == {"op"}
    assert SPACE.heads() == {"op": 5}
    assert not SPACE.uses_skips
    assert SPACE.num_tokens == 6 and SPACE.size == 15_625


def test_architecture_layers_follow_the_benchmark_edge_order():
    arch = parse_nb201_string(EXAMPLE)
    assert arch.space == "nb201"
    assert arch.layers == (
        Layer("nor_conv_3x3", inputs=(0,)),
        Layer("nor_conv_3x3", inputs=(0,)),
        Layer("avg_pool_3x3", inputs=(1,)),
        Layer("skip_connect", inputs=(0,)),
        Layer("nor_conv_3x3", inputs=(1,)),
        Layer("skip_connect", inputs=(2,)),
    )
    assert SPACE.encode(arch) == [3, 3, 4, 1, 3, 1]
    assert to_nb201_string(arch) == EXAMPLE
    assert format_arch(arch) == EXAMPLE  # the registered formatter: logs print this notation


def test_every_architecture_round_trips_through_tokens_and_strings():
    seen = set()
    for tokens, arch in zip(
        itertools.product(range(5), repeat=6), SPACE.all_architectures(), strict=True
    ):
        assert SPACE.encode(arch) == list(tokens)
        assert SPACE.decode(tokens) == arch
        text = to_nb201_string(arch)
        assert parse_nb201_string(text) == arch
        seen.add(text)
    assert len(seen) == 15_625


def test_every_table_string_parses_and_prints_back(table):
    for text, _ in table.items():
        assert to_nb201_string(parse_nb201_string(text)) == text


@pytest.mark.parametrize(
    "text",
    [
        "",
        EXAMPLE[:-1],  # no closing bar
        EXAMPLE + "+|none~0|",  # a fourth node
        EXAMPLE.replace("+", "", 1),  # two nodes
        EXAMPLE.replace("avg_pool_3x3~1", "avg_pool_3x3~2"),  # wrong source
        EXAMPLE.replace("|+|nor_conv_3x3~0|avg_pool_3x3~1|", "|+|avg_pool_3x3~1|nor_conv_3x3~0|"),
        EXAMPLE.replace("~0|+", "~00|+", 1),  # sources are written exactly
        EXAMPLE.replace("skip_connect~0", "skip_conect~0"),  # unknown op
        EXAMPLE.replace("skip_connect~0", " skip_connect~0"),
        EXAMPLE.replace("|+|", "||+|", 1),
        EXAMPLE.replace("avg_pool_3x3~1", "avg_pool_3x3"),
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|+|skip_connect~0|",
    ],
)
def test_malformed_strings_are_refused(text):
    with pytest.raises(ValueError, match="nb201 string"):
        parse_nb201_string(text)


def test_foreign_architectures_are_refused():
    good = parse_nb201_string(EXAMPLE)
    wrong_input = Architecture("nb201", (Layer("none", inputs=(1,)), *good.layers[1:]))
    for arch in (Architecture("macro", good.layers), Architecture("nb201", good.layers[:5])):
        with pytest.raises(ValueError):
            SPACE.encode(arch)
    with pytest.raises(ValueError, match=r"edge\(1<-0\)"):
        to_nb201_string(wrong_input)
    with pytest.raises(ValueError, match="not among"):
        NB201Space(ops=("nor_conv_3x3", "skip_connect")).encode(good)


def test_a_smaller_op_list_codes_tokens_against_that_list():
    space = NB201Space(ops=("skip_connect", "nor_conv_3x3"))
    arch = space.decode([1, 0, 1, 0, 1, 1])
    assert [layer.op for layer in arch.layers][:2] == ["nor_conv_3x3", "skip_connect"]
    assert space.size == 64 and space.heads() == {"op": 2}
    assert len(set(space.all_architectures())) == 64


def test_sampling_and_mutation_stay_in_the_space():
    rng = np.random.default_rng(0)
    for _ in range(50):
        arch = SPACE.sample(rng)
        child = SPACE.mutate(arch, rng)
        diff = sum(a != b for a, b in zip(SPACE.encode(arch), SPACE.encode(child), strict=True))
        assert diff == 1


def test_the_space_builds_from_its_composed_config(compose_cfg):
    cfg = typed_config(compose_cfg(["search_space=nb201", "evaluator=table"]))
    assert isinstance(cfg.search_space, NB201SpaceConfig)
    assert isinstance(cfg.evaluator, TableEvaluatorConfig)
    assert cfg.search_space.channels == 16 and cfg.search_space.cells_per_stage == 5
    assert cfg.evaluator.path is None and cfg.evaluator.scale == 0.01
    assert build_space(cfg.search_space) == SPACE
    assert "nb201" in SPACES


def test_misspelt_keys_fail_while_composing(compose_cfg):
    with pytest.raises(ConfigCompositionException, match="chanels"):
        compose_cfg(["search_space=nb201", "search_space.chanels=8"])
    with pytest.raises(ConfigCompositionException, match="evaluator.scale"):
        compose_cfg(["evaluator=table", "evaluator.scale=percent"])


@pytest.mark.parametrize(
    ("cfg", "key"),
    [
        ({"ops": []}, "search_space.ops"),
        ({"ops": ["conv3"]}, "search_space.ops"),
        ({"ops": ["none", "none"]}, "search_space.ops"),
        ({"channels": 0}, "search_space.channels"),
        ({"cells_per_stage": 0}, "search_space.cells_per_stage"),
    ],
)
def test_bad_space_configs_name_the_key(cfg, key):
    base = dataclasses.asdict(NB201SpaceConfig())
    with pytest.raises(ConfigError, match=key) as info:
        build_space(NB201SpaceConfig(**{**base, **cfg}))
    assert "\n" not in str(info.value)


# ---- the network ---------------------------------------------------------------------------


def _forward_backward(net: torch.nn.Module, input_shape: tuple[int, ...]) -> torch.Tensor:
    out = net(torch.randn(3, *input_shape))
    assert out.shape == (3, 10)
    assert torch.isfinite(out).all()
    out.logsumexp(1).mean().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
    return out


@pytest.mark.parametrize("input_shape", [(1, 40), (3, 8, 8)])
@pytest.mark.parametrize("op", NB201_OPS)
def test_every_op_trains_in_1d_and_2d(op, input_shape):
    # All six edges the same op; all "none" cuts the input off, yet the output stays defined.
    net = build_network(make_arch([op] * 6), input_shape, 10, SMALL)
    _forward_backward(net, input_shape)


@pytest.mark.parametrize("input_shape", [(1, 40), (3, 8, 8), (1, 7), (2, 9, 5)])
def test_random_architectures_train_on_even_and_odd_sizes(input_shape):
    rng = np.random.default_rng(0)
    for _ in range(3):
        net = build_network(SPACE.sample(rng), input_shape, 10, SMALL)
        _forward_backward(net, input_shape)


def test_stages_double_channels_and_halve_the_size():
    net = NB201Net(edge_ops(parse_nb201_string(EXAMPLE)), (3, 8, 8), 10, 4, 2)
    shapes = []
    x = net.stem(torch.randn(2, 3, 8, 8))
    for block in net.cells:
        x = block(x)
        shapes.append(tuple(x.shape[1:]))
    assert shapes == [(4, 8, 8)] * 2 + [(8, 4, 4)] * 3 + [(16, 2, 2)] * 3


def test_param_counts_match_the_benchmark_range():
    # NAS-Bench-201 on CIFAR-10 (C=16, N=5) spans 0.073306 to 1.531546 M parameters. By hand:
    # stem 3·16·9 + 32 = 464; reductions 16→32: 4608+64 + 9216+64 + 512 = 14,464 and
    # 32→64: 18432+128 + 36864+128 + 2048 = 57,600; last BN 128; classifier 64·10+10 = 650.
    fixed = 464 + 14_464 + 57_600 + 128 + 650
    assert fixed == 73_306
    # All nor_conv_3x3: 6 edges · (9c² + 2c) per cell, 5 cells at c = 16, 32, 64.
    cells = sum(5 * 6 * (9 * c * c + 2 * c) for c in (16, 32, 64))
    assert fixed + cells == 1_531_546
    for op, expected in (("none", 73_306), ("nor_conv_3x3", 1_531_546)):
        assert count_params(build_network(make_arch([op] * 6), (3, 32, 32), 10)) == expected
    # The example: 3 convs 3×3, no 1×1 conv, pool and skips add nothing.
    cells = sum(5 * 3 * (9 * c * c + 2 * c) for c in (16, 32, 64))
    arch = parse_nb201_string(EXAMPLE)
    assert count_params(build_network(arch, (3, 32, 32), 10)) == fixed + cells


def test_bad_inputs_to_the_network_are_refused():
    arch = parse_nb201_string(EXAMPLE)
    with pytest.raises(ValueError, match="1-D or 2-D"):
        NB201Net(edge_ops(arch), (3, 4, 4, 4), 10, 16, 5)
    with pytest.raises(ValueError):
        build_network(Architecture("nb201", arch.layers[:5]), (1, 40), 10)


# ---- the table and its evaluator -----------------------------------------------------------


def test_bundled_table_loads_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    table = ResultTable.from_config(TableEvaluatorConfig())
    assert table.path == SPACES["nb201"].table
    assert len(table) == 15_625


def test_table_helpers(table):
    # The default columns are the paper's: reward from the 12-epoch validation accuracy.
    assert table.value_column == "cifar10_valid_12ep"
    assert table.max == pytest.approx(0.84892)
    assert table.median == pytest.approx(0.72278)
    assert table.value(VALID_BEST) == table.max and table.best == VALID_BEST
    assert table.value(parse_nb201_string(EXAMPLE)) == pytest.approx(0.82834)
    assert table.value(EXAMPLE) == pytest.approx(0.82834)
    assert table.report(EXAMPLE) == pytest.approx(
        {
            "cifar10_test_200ep": 0.9366,
            "cifar100_test_200ep": 0.702933,
            "imagenet16_test_200ep": 0.440333,
        }
    )
    assert table.report(VALID_BEST)["cifar10_test_200ep"] == pytest.approx(0.943733)
    assert EXAMPLE in table and parse_nb201_string(EXAMPLE) in table
    assert table.has_params and table.params(EXAMPLE) > 0
    assert table.has_flops and table.flops(EXAMPLE) > 0
    assert table.get("nope") is None and table.report("nope") == {}
    with pytest.raises(KeyError):
        table.value("nope")
    assert all(text in table for text in map(to_nb201_string, SPACE.all_architectures()))
    column = table.column("cifar100_test_200ep")
    assert max(column.values()) == pytest.approx(0.735133)


def test_the_oracle_preset_rewards_the_200_epoch_test_accuracy():
    cfg = typed_config(compose_config(["search_space=nb201", "evaluator=table_oracle"]))
    oracle = ResultTable.from_config(cfg.evaluator)
    assert oracle.value_column == "cifar10_test_200ep"
    assert oracle.max == pytest.approx(0.943733)
    assert oracle.value(EXAMPLE) == pytest.approx(0.9366)
    assert oracle.best in (BEST, VALID_BEST)


def test_table_evaluator_answers_from_the_table_and_fails_missing_archs(table):
    evaluator = TableEvaluator(table)
    jobs = [
        ChildJob(0, parse_nb201_string(EXAMPLE), seed=1),
        ChildJob(1, Architecture("macro", (Layer("conv3"),)), seed=2),
        ChildJob(2, Architecture("nb201", (Layer("none"),)), seed=3),
    ]
    ok, missing, malformed = list(evaluator.evaluate(jobs))
    evaluator.close()
    assert ok.status == "ok" and ok.index == 0
    assert ok.reward == ok.val_acc == pytest.approx(0.82834)
    assert ok.report == table.report(EXAMPLE)
    assert ok.params == table.params(EXAMPLE) and ok.flops == table.flops(EXAMPLE)
    assert ok.seconds is None  # looked up: nothing was timed
    for result in (missing, malformed):
        assert result.status == "error" and result.reward == 0.0 and result.val_acc == 0.0
        assert result.message and result.report == {}
    assert "not in table" in missing.message


def test_custom_tables_with_a_params_column(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text(f"name,acc,params\n{EXAMPLE},0.5,1234\n{BEST},0.75,99\n")
    cfg = TableEvaluatorConfig(
        path=str(path), arch_column="name", value_column="acc", scale=1.0, report_columns=[]
    )
    evaluator = TableEvaluator.from_config(cfg)
    assert evaluator.table.has_params and evaluator.table.max == 0.75
    assert not evaluator.table.has_flops
    (result,) = evaluator.evaluate([ChildJob(0, parse_nb201_string(EXAMPLE), seed=0)])
    assert (result.reward, result.params) == (0.5, 1234)


@pytest.mark.parametrize(
    ("content", "overrides", "key"),
    [
        (None, {}, "evaluator.path"),
        ("", {}, "evaluator.path"),
        ("arch,acc\n", {"value_column": "acc"}, "evaluator.path"),
        ("arch,acc\nx,1\n", {}, "evaluator.value_column"),
        (
            "arch,acc\nx,1\n",
            {"value_column": "acc", "report_columns": ["t"]},
            "evaluator.report_columns",
        ),
        (
            "arch,acc,t\nx,1,\n",
            {"value_column": "acc", "report_columns": ["t"]},
            "evaluator.report_columns",
        ),
        (
            "arch,acc\nx,1\n",
            {"value_column": "acc", "report_columns": ["acc", "acc"]},
            "evaluator.report_columns",
        ),
        ("arch,acc\nx,1\n", {"value_column": "acc", "arch_column": "a"}, "evaluator.arch_column"),
        ("arch,acc\nx,high\n", {"value_column": "acc"}, "evaluator.value_column"),
        ("arch,acc\nx,1\nx,2\n", {"value_column": "acc"}, "evaluator.arch_column"),
        ("arch,acc\nx,1\n", {"value_column": "acc", "scale": 0}, "evaluator.scale"),
        (b"arch,acc\n\xff,1\n", {"value_column": "acc"}, "evaluator.path"),
    ],
)
def test_bad_tables_name_the_key(tmp_path, content, overrides, key):
    path = tmp_path / "t.csv"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError, match=key) as info:
        ResultTable.from_config(
            TableEvaluatorConfig(path=str(path), **{"report_columns": [], **overrides})
        )
    assert "\n" not in str(info.value)


def best_found(tmp_path: Path, preset: str, seed: int, batch: int) -> float:
    overrides = ["search_space=nb201", "evaluator=table", "budget.children=100"]
    run_dir = tmp_path / f"{preset.partition('=')[2]}-{seed}"
    summary, _ = run_search(run_dir, [*overrides, f"budget.batch={batch}", preset, f"seed={seed}"])
    return summary["best"]["reward"]


def test_the_tuned_preset_beats_random_search_on_the_table(tmp_path):
    # The paper's protocol: reward = 12-epoch validation accuracy (optimum 0.849), 100 cells.
    seeds = range(3)
    tuned = [best_found(tmp_path, "experiment=lstm_nb201", s, batch=1) for s in seeds]
    random = [best_found(tmp_path, "controller=random", s, batch=10) for s in seeds]
    assert sum(tuned) / 3 > sum(random) / 3 + 0.005
    assert min(tuned) >= 0.843  # each seed finds a cell within 0.6 points of the optimum
