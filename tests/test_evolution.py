"""Regularized evolution: aging, the tournament's draw, and the mutation's distribution."""

from __future__ import annotations

from collections import Counter
from math import comb

import numpy as np
import pytest

from child.spaces.macro.space import MACRO_OPS, MacroSpace
from child.spaces.nb201.space import NB201_OPS, NB201Space, make_arch
from controller.config import EvolutionControllerConfig
from controller.evolution import RegularizedEvolution
from core.errors import ConfigError

NB201 = NB201Space()
CELL = make_arch(["nor_conv_3x3"] * 6)


def evolution(population: int, sample_size: int, **kw) -> RegularizedEvolution:
    cfg = EvolutionControllerConfig(population=population, sample_size=sample_size, **kw)
    cfg.check()
    return RegularizedEvolution(NB201, cfg, seed=0)


def distinct_cells(n: int) -> list:
    return [make_arch([NB201_OPS[(i // 5**e) % 5] for e in range(6)]) for i in range(n)]


def test_aging_removes_the_oldest_member_even_when_it_is_the_best():
    controller = evolution(population=3, sample_size=2)
    cells = distinct_cells(5)
    controller.learn(cells[:3], [0.9, 0.1, 0.2])  # the oldest is the best
    assert controller.favourite() == cells[0]
    controller.learn(cells[3:4], [0.05])  # the worst arrives: the oldest (best) still goes
    assert [a for a, _ in controller.population] == cells[1:4]
    assert controller.favourite() == cells[2]
    controller.learn(cells[4:5], [0.3])
    assert [a for a, _ in controller.population] == cells[2:5]


def winners(controller: RegularizedEvolution, draws: int) -> Counter:
    """How often each population member (by its index) wins a tournament."""
    index = {arch: i for i, (arch, _) in enumerate(controller.population)}
    return Counter(index[controller._tournament()] for _ in range(draws))


def test_the_tournament_draws_with_replacement_by_default():
    # Member k of P (rewards rank it k-th from the bottom) wins a tournament of S draws with
    # replacement with probability ((k+1)/P)^S − (k/P)^S: the best does not always win, even
    # when the tournament is as large as the population.
    population, size, draws = 5, 5, 20_000
    controller = evolution(population, size)
    controller.learn(distinct_cells(population), [0.1, 0.2, 0.3, 0.4, 0.5])
    counts = winners(controller, draws)
    for k in range(population):
        expected = ((k + 1) / population) ** size - (k / population) ** size
        assert counts[k] / draws == pytest.approx(expected, abs=0.012), (k, counts)
    assert counts[0] > 0  # the worst won a tournament: it was drawn five times in a row


def test_without_replacement_the_tournament_of_the_whole_population_is_an_argmax():
    controller = evolution(5, 5, tournament="without_replacement")
    controller.learn(distinct_cells(5), [0.1, 0.2, 0.5, 0.4, 0.3])
    assert winners(controller, 200) == Counter({2: 200})
    # A smaller tournament without replacement: member of rank k (from the bottom) wins with
    # probability C(k, S−1) / C(P, S).
    controller = evolution(5, 2, tournament="without_replacement")
    controller.learn(distinct_cells(5), [0.1, 0.2, 0.3, 0.4, 0.5])
    counts = winners(controller, 20_000)
    for k in range(5):
        assert counts[k] / 20_000 == pytest.approx(comb(k, 1) / comb(5, 2), abs=0.012)


def changed_edges(parent, child) -> list[int]:
    return [i for i, (a, b) in enumerate(zip(parent.layers, child.layers, strict=True)) if a != b]


def test_uniform_mutation_changes_one_edge_each_equally_likely():
    rng = np.random.default_rng(0)
    edges = Counter()
    for _ in range(12_000):
        child = NB201.mutate(CELL, rng)
        (edge,) = changed_edges(CELL, child)
        assert child.layers[edge].op != "nor_conv_3x3"
        edges[edge] += 1
    for edge in range(6):
        assert edges[edge] / 12_000 == pytest.approx(1 / 6, abs=0.015)


def test_grouped_mutation_picks_a_node_then_one_of_its_edges():
    # NAS-Bench-201's R_EA.py: node 1 has one incoming edge, node 2 two, node 3 three; a node
    # is picked uniformly, then an edge into it: edge probabilities 1/3, 1/6, 1/6, 1/9 ×3.
    rng = np.random.default_rng(0)
    edges, ops = Counter(), Counter()
    draws = 18_000
    for _ in range(draws):
        child = NB201.mutate(CELL, rng, grouped=True)
        (edge,) = changed_edges(CELL, child)
        edges[edge] += 1
        ops[child.layers[edge].op] += 1
    expected = [1 / 3, 1 / 6, 1 / 6, 1 / 9, 1 / 9, 1 / 9]
    for edge, p in enumerate(expected):
        assert edges[edge] / draws == pytest.approx(p, abs=0.015), edges
    assert "nor_conv_3x3" not in ops  # the new op is one of the other four, uniformly
    for op in ops:
        assert ops[op] / draws == pytest.approx(1 / 4, abs=0.015)


def test_a_space_without_groups_mutates_the_same_grouped_or_not():
    space = MacroSpace(num_layers=3, ops=MACRO_OPS, widths=(16, 32))
    arch = space.sample(np.random.default_rng(1))
    a = [space.mutate(arch, np.random.default_rng(s)) for s in range(20)]
    b = [space.mutate(arch, np.random.default_rng(s), grouped=True) for s in range(20)]
    assert a == b


def test_the_paper_preset_mutates_by_node_and_draws_with_replacement():
    from app.config import compose_config, typed_config

    cfg = typed_config(compose_config(["experiment=evolution_paper"])).controller
    assert (cfg.population, cfg.sample_size) == (10, 3)
    assert (cfg.tournament, cfg.mutation) == ("with_replacement", "grouped")


@pytest.mark.parametrize(
    ("field", "value"), [("tournament", "best"), ("mutation", "node"), ("sample_size", 0)]
)
def test_impossible_evolution_settings_name_the_key(field, value):
    cfg = EvolutionControllerConfig(**{field: value})
    with pytest.raises(ConfigError, match=f"controller.{field}"):
        cfg.check()


def test_a_tournament_larger_than_the_population_needs_replacement():
    EvolutionControllerConfig(population=5, sample_size=8).check()
    with pytest.raises(ConfigError, match="controller.sample_size"):
        EvolutionControllerConfig(
            population=5, sample_size=8, tournament="without_replacement"
        ).check()
