"""Local search (controller=local_search): neighbours, the climb, restarts, batches, resume."""

from __future__ import annotations

import numpy as np
import pytest

from child.spaces import build_space
from child.spaces.macro.space import MACRO_OPS, MacroSpace
from child.spaces.nb201.space import NB201_OPS, NB201Space, make_arch
from controller.config import LocalSearchControllerConfig
from controller.local_search import LocalSearch
from core.architecture import Architecture
from core.errors import ConfigError
from tests.helpers import run_search

NB201 = NB201Space()
# A reward with one optimum and no ties: each edge scores its op, later edges weigh less.
OP_SCORE = {op: i for i, op in enumerate(NB201_OPS)}


def reward(arch: Architecture) -> float:
    return sum(OP_SCORE[layer.op] * 10.0**-e for e, layer in enumerate(arch.layers))


OPTIMUM = make_arch(["avg_pool_3x3"] * 6)


def differences(space, a: Architecture, b: Architecture) -> int:
    """How many decisions `a` and `b` answer differently (same decisions assumed)."""
    ta, tb = space.encode(a), space.encode(b)
    return sum(x != y for x, y in zip(ta, tb, strict=True))


def test_the_neighbours_of_a_cell_are_every_single_edge_change():
    cell = make_arch(["nor_conv_3x3"] * 6)
    neighbours = NB201.neighbours(cell, np.random.default_rng(0))
    assert len(neighbours) == len(set(neighbours)) == 6 * 4
    assert all(differences(NB201, cell, n) == 1 for n in neighbours)


def test_the_neighbours_of_a_macro_net_flip_one_skip_bit_or_change_one_choice():
    space = MacroSpace(num_layers=3, ops=MACRO_OPS, widths=(16, 32))
    arch = space.sample(np.random.default_rng(0))
    neighbours = space.neighbours(arch, np.random.default_rng(0))
    # 3 ops × 7 others + 3 widths × 1 other + skip bits into layers 1 and 2 (1 + 2).
    assert len(neighbours) == 3 * 7 + 3 * 1 + 3
    assert all(differences(space, arch, n) == 1 for n in neighbours)


def test_the_neighbours_in_a_conditional_space_are_legal():
    from app.config import compose_config, typed_config

    cfg = typed_config(compose_config(["search_space=layers"]))
    space = build_space(cfg.search_space)
    rng = np.random.default_rng(0)
    for seed in range(5):
        arch = space.sample(np.random.default_rng(seed))
        for neighbour in space.neighbours(arch, rng):
            assert neighbour != arch
            space.walk(space.encode(neighbour))  # raises if any answer is illegal


def climb(controller: LocalSearch, steps: int, batch: int = 1) -> list[Architecture]:
    proposed = []
    for _ in range(steps):
        archs = controller.propose(batch)
        proposed.extend(archs)
        controller.learn(archs, [reward(a) for a in archs])
    return proposed


def local_search(**kw) -> LocalSearch:
    cfg = LocalSearchControllerConfig(**kw)
    cfg.check()
    return LocalSearch(NB201, cfg, seed=0)


def test_each_move_is_to_the_first_better_neighbour_in_the_order_evaluated():
    controller = local_search()
    (start,) = controller.propose(1)
    controller.learn([start], [reward(start)])
    assert controller.center == (start, reward(start))
    for _ in range(30):
        center = controller.center
        (arch,) = controller.propose(1)
        assert differences(NB201, center[0], arch) == 1  # a neighbour of the centre
        controller.learn([arch], [reward(arch)])
        if reward(arch) > center[1]:
            assert controller.center[0] == arch  # moved at once: the first better one
        else:
            assert controller.center == center


def test_the_climb_reaches_the_optimum_then_restarts_from_a_random_cell():
    controller = local_search()
    proposed = climb(controller, 200)
    assert len(set(proposed)) == len(proposed)  # never the same cell twice
    assert OPTIMUM in proposed and controller.favourite() == OPTIMUM
    after = proposed[proposed.index(OPTIMUM) + 1 :]
    # All 24 neighbours of the optimum are judged (those evaluated before count for free);
    # then a random restart, which is not a neighbour of the optimum.
    assert controller.restarts >= 1
    neighbours = set(NB201.neighbours(OPTIMUM, np.random.default_rng(0)))
    assert any(a not in neighbours and differences(NB201, OPTIMUM, a) > 1 for a in after)


def test_best_improvement_judges_the_whole_neighbourhood_before_moving():
    controller = local_search(first_improvement=False)
    (start,) = controller.propose(1)
    controller.learn([start], [reward(start)])
    neighbours = NB201.neighbours(start, np.random.default_rng(0))
    seen = [a for a in climb(controller, len(neighbours))]
    assert set(seen) == set(neighbours)
    best = max(neighbours, key=reward)
    assert controller.center[0] == best


def test_a_batch_is_the_next_neighbours_in_line_and_is_judged_in_order():
    controller = local_search()
    (start,) = controller.propose(1)
    controller.learn([start], [reward(start)])
    batch = controller.propose(5)
    assert len(set(batch)) == 5 and all(differences(NB201, start, a) == 1 for a in batch)
    better = [a for a in batch if reward(a) > reward(start)]
    controller.learn(batch, [reward(a) for a in batch])
    if better:
        assert controller.center[0] == better[0]


def test_a_checkpoint_mid_climb_with_proposals_out_continues_identically():
    a = local_search()
    climb(a, 20, batch=3)
    out = a.propose(3)  # proposed, not learned: a pipelined search's state
    b = LocalSearch(NB201, LocalSearchControllerConfig(), seed=99)
    b.load_state_dict(a.state_dict())
    for controller in (a, b):
        controller.learn(out, [reward(x) for x in out])
    assert climb(a, 30, batch=3) == climb(b, 30, batch=3)
    assert a.favourite() == b.favourite()


def test_restarts_from_takes_the_best_of_several_random_cells():
    controller = local_search(restarts_from=4)
    starts = controller.propose(4)
    controller.learn(starts, [reward(a) for a in starts])
    assert controller.center[0] == max(starts, key=reward)


def test_restarts_from_must_be_positive():
    with pytest.raises(ConfigError, match="controller.restarts_from"):
        LocalSearchControllerConfig(restarts_from=0).check()


def test_a_table_search_with_local_search_finds_a_good_cell(tmp_path):
    overrides = ["search_space=nb201", "evaluator=table", "controller=local_search"]
    summary, _ = run_search(tmp_path, [*overrides, "budget.children=60", "budget.batch=1"])
    assert summary["controller"] == "local_search" and summary["children"] == 60
    # Random search: a mean best of 0.833 after 60 cells, above 0.845 in 3% of 2,000 draws.
    assert summary["best_reward"] > 0.845
