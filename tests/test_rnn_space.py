"""The recurrent-cell space (search_space=rnn): decisions, tokens, networks, supernet, searches."""

from __future__ import annotations

import io
import itertools
import json

import numpy as np
import pytest
import torch
from rich.console import Console
from torch.nn import functional as F

from app.config import compose_config, typed_config
from app.retrain import retrain_main
from child.data.datasets import load_dataset
from child.evaluation.config import ChildConfig
from child.evaluation.costs import count_params
from child.evaluation.trainer import train
from child.spaces import build_network, build_space
from child.spaces.rnn.network import RNNCellNet, loose_ends
from child.spaces.rnn.space import RNNSpace, RNNSpaceConfig, build_rnn_supernet
from controller.config import LSTMControllerConfig
from controller.policy_gradient import PolicyGradientController
from core.architecture import Architecture, Layer
from core.errors import ConfigError
from tests.helpers import TINY_ANYWHERE, run_search

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py

SPACE = RNNSpace(nodes=3)
ACTS = SPACE.activations


def cell(*nodes: tuple[str, int | None]) -> Architecture:
    """An rnn architecture from (activation, node read) pairs; node 0 reads None."""
    layers = tuple(Layer(act, inputs=() if prev is None else (prev,)) for act, prev in nodes)
    return Architecture("rnn", layers)


def all_token_lists(space):
    """Every complete, legal token list of `space`, by running its decision program."""
    stack = [[]]
    while stack:
        tokens = stack.pop()
        decision = space.next_decision(tokens)
        if decision is None:
            yield tokens
            continue
        stack += [[*tokens, answer] for answer in decision.allowed_tokens()]


def test_the_cli_option_builds_the_space_its_config_describes():
    cfg = typed_config(compose_config(["search_space=rnn", "search_space.nodes=5"]))
    space = build_space(cfg.search_space)
    assert isinstance(space, RNNSpace) and space.nodes == 5
    assert space.heads() == {"prev": 4, "act": 4}


def test_every_cell_round_trips_and_a_node_reads_only_earlier_nodes():
    token_lists = list(all_token_lists(SPACE))
    # Node 0 picks an activation; node 1 reads node 0; node 2 reads node 0 or 1.
    assert len(token_lists) == len(ACTS) ** 3 * 1 * 2
    archs = set()
    for tokens in token_lists:
        arch = SPACE.decode(tokens)
        assert SPACE.encode(arch) == tokens
        assert all(layer.inputs[0] < i for i, layer in enumerate(arch.layers) if i)
        archs.add(arch)
    assert len(archs) == len(token_lists)
    assert str(cell(("tanh", None), ("relu", 0), ("identity", 0))) == (
        "rnn[tanh | relu<-0 | identity<-0]"
    )


@pytest.mark.parametrize(
    "arch, words",
    [
        (cell(("tanh", None), ("relu", 2), ("tanh", 0)), "earlier node"),
        (cell(("tanh", None), ("gelu", 0), ("tanh", 0)), "gelu"),
        (cell(("tanh", None), ("relu", 0)), "2 nodes"),
        (cell(("tanh", 0), ("relu", 0), ("tanh", 0)), "must read 0"),
        (Architecture("nb201", (Layer("none"),)), "not an rnn cell"),
    ],
)
def test_foreign_or_malformed_cells_are_refused(arch, words):
    with pytest.raises(ValueError, match=words):
        SPACE.encode(arch)


@pytest.mark.parametrize(
    "override, key",
    [
        ("search_space.nodes=0", "search_space.nodes"),
        ("search_space.hidden=0", "search_space.hidden"),
        ("search_space.activations=[tanh,gelu]", "search_space.activations"),
        ("search_space.activations=[tanh,tanh]", "search_space.activations"),
        ("search_space.activations=[]", "search_space.activations"),
    ],
)
def test_bad_space_configs_name_the_key(override, key):
    cfg = typed_config(compose_config(["search_space=rnn", override]))
    with pytest.raises(ConfigError, match=key):
        build_space(cfg.search_space)


def node_states(net: RNNCellNet, x_t: torch.Tensor) -> list[torch.Tensor]:
    """Each node's state after one time step from a zero state, computed node by node here."""

    def node(linear, act, source, carry):  # value and gate from `source`, gated against carry
        value, gate = linear(source).chunk(2, dim=1)
        return torch.sigmoid(gate) * act(value) + (1 - torch.sigmoid(gate)) * carry

    acts = {"tanh": torch.tanh, "relu": torch.relu}
    h0 = torch.zeros(x_t.shape[0], net.hidden)
    states = [node(net.first, acts[net.activations[0]], torch.cat([x_t, h0], 1), h0)]
    for i in range(1, len(net.activations)):
        j = net.prevs[i]
        states.append(node(net.nodes[i - 1], acts[net.activations[i]], states[j], states[j]))
    return states


def test_the_output_averages_exactly_the_loose_ends():
    assert loose_ends([None, 0, 1, 0]) == [2, 3]
    assert loose_ends([None]) == [0]
    # One time step: the cell's output is the mean of nodes 2 and 3, the two nothing reads
    # (not their sum, not the last node, not every node).
    torch.manual_seed(0)
    net = RNNCellNet(["tanh", "relu", "tanh", "relu"], [None, 0, 1, 0], (3, 1), 2, 8)
    x = torch.randn(5, 3, 1)
    with torch.no_grad():
        states = node_states(net, x[:, :, 0])
        logits = net(x)
        torch.testing.assert_close(logits, net.head((states[2] + states[3]) / 2))
        for wrong in (states[2] + states[3], states[3], sum(states) / 4):
            assert not torch.allclose(logits, net.head(wrong), atol=1e-3)
    # A node that nothing reads changes the output; replacing what a read node feeds does too.
    torch.manual_seed(0)
    x = torch.randn(5, 1, 12)
    base = RNNCellNet(["tanh", "relu", "tanh"], [None, 0, 0], (1, 12), 3, 8)
    chained = RNNCellNet(["tanh", "relu", "tanh"], [None, 0, 1], (1, 12), 3, 8)
    chained.load_state_dict(base.state_dict())  # the same weights; only node 2's input moves
    assert not torch.allclose(base(x), chained(x))


@pytest.mark.parametrize("input_shape", [(1, 40), (3, 16), (1, 8, 8)])
def test_random_cells_run_forward_and_backward_on_sequences_and_images(input_shape):
    space = RNNSpace(nodes=4)
    for seed in range(3):
        arch = space.sample(np.random.default_rng(seed))
        net = build_network(arch, input_shape, 10, RNNSpaceConfig(nodes=4, hidden=16))
        logits = net(torch.randn(6, *input_shape))
        assert logits.shape == (6, 10)
        F.cross_entropy(logits, torch.arange(6)).backward()
        assert all(p.grad is not None for p in net.parameters())


def test_a_cell_learns_the_digits_read_row_by_row():
    cfg = typed_config(compose_config(["dataset=digits"]))
    data = load_dataset(cfg.dataset, seed=0)
    arch = cell(("tanh", None), ("relu", 0), ("tanh", 1))
    torch.manual_seed(0)
    net = build_network(arch, tuple(data.train_x.shape[1:]), 10, RNNSpaceConfig(nodes=3))
    recipe = ChildConfig(optimizer="adam", lr=3e-3, weight_decay=0.0, batch_size=64, epochs=8)
    outcome = train(net, data, recipe, seed=0)
    assert outcome.status == "ok"
    assert outcome.val_curve[-1] > 0.5  # chance is 0.1; measured 0.76


def test_the_lstm_controller_learns_which_node_to_read_and_which_activation():
    space = RNNSpace(nodes=4)

    def reward(arch):  # a chain of relu nodes scores 1
        chain = [layer.inputs[0] == i - 1 for i, layer in enumerate(arch.layers) if i]
        relu = [layer.op == "relu" for layer in arch.layers]
        return (np.mean(chain) + np.mean(relu)) / 2

    controller = PolicyGradientController(space, LSTMControllerConfig(lr=0.02), seed=0)
    before = np.mean([reward(a) for a in controller.propose(200)])
    for _ in range(60):
        archs = controller.propose(5)
        controller.learn(archs, [reward(a) for a in archs])
    after = np.mean([reward(a) for a in controller.propose(200)])
    assert before < 0.5 < 0.85 < after
    assert controller.favourite() == cell(("relu", None), ("relu", 0), ("relu", 1), ("relu", 2))


def test_supernet_paths_share_edge_weights_and_match_a_standalone_child():
    cfg = RNNSpaceConfig(nodes=4, hidden=8)
    torch.manual_seed(0)
    net = build_rnn_supernet(cfg, (1, 10), 3)
    x = torch.randn(4, 1, 10)
    space = RNNSpace(nodes=4)
    for tokens in itertools.islice(all_token_lists(space), 0, None, 97):
        arch = space.decode(tokens)
        child = build_network(arch, (1, 10), 3, cfg)
        path = net.path_parameters(arch)
        assert [p.shape for p in path] == [p.shape for p in child.parameters()]
        assert sum(p.numel() for p in path) == count_params(child)
        with torch.no_grad():
            for mine, theirs in zip(path, child.parameters(), strict=True):
                theirs.copy_(mine)
        torch.testing.assert_close(net(x, arch), child(x))
    # Two cells whose node 2 reads node 1 share that edge's weights; one reading node 0 does not.
    a = cell(("tanh", None), ("relu", 0), ("tanh", 1), ("tanh", 2))
    b = cell(("relu", None), ("tanh", 0), ("sigmoid", 1), ("tanh", 0))
    c = cell(("relu", None), ("tanh", 0), ("sigmoid", 0), ("tanh", 0))
    ids = [{id(p) for p in net.path_parameters(arch)} for arch in (a, b, c)]
    assert ids[0] & ids[1] > ids[0] & ids[2]


def test_a_supernet_step_changes_only_the_childs_edges():
    torch.manual_seed(0)
    net = build_rnn_supernet(RNNSpaceConfig(nodes=4, hidden=8), (1, 10), 3)
    arch = cell(("tanh", None), ("relu", 0), ("tanh", 0), ("identity", 2))
    path = {id(p) for p in net.path_parameters(arch)}
    before = {n: p.detach().clone() for n, p in net.named_parameters()}
    F.cross_entropy(net(torch.randn(4, 1, 10), arch), torch.arange(4) % 3).backward()
    torch.optim.SGD(net.parameters(), lr=0.1).step()
    for name, p in net.named_parameters():
        assert (p.grad is not None) == (id(p) in path), name
        assert torch.equal(p, before[name]) == (id(p) not in path), name
    with pytest.raises(ValueError, match="3 nodes"):
        net(torch.randn(2, 1, 10), cell(("tanh", None), ("relu", 0), ("tanh", 0)))


RNN_ANYWHERE = [
    *TINY_ANYWHERE,
    "search_space=rnn",
    "search_space.hidden=16",
    "child=rnn",
    "child.epochs=1",
]
RNN_TINY = [*RNN_ANYWHERE, "evaluator.workers=1"]


@pytest.mark.slow
def test_a_recurrent_search_draws_its_cell_and_retrains_it(tmp_path):
    run = tmp_path / "run"
    summary, printed = run_search(run, [*RNN_TINY, "test_best=false"])
    assert summary["children"] == 6
    best = json.loads((run / "best.json").read_text())
    arch = Architecture.from_dict(best["arch"])
    assert arch.space == "rnn" and len(arch.layers) == 4
    assert str(arch) in printed
    assert (run / "best.png").stat().st_size > 1000
    out = tmp_path / "retrain"
    overrides = ["child=rnn_final", "child.epochs=2", "child.threads=1", "progress=false"]
    cfg = compose_config([*overrides, f"run={run}"], name="retrain")
    retrain_main(cfg, out, Console(file=io.StringIO(), width=200))
    result = json.loads((out / "result.json").read_text())
    assert Architecture.from_dict(result["arch"]) == arch
    assert 0.0 <= result["test_acc"] <= 1.0
    assert (out / "arch.png").stat().st_size > 1000


@pytest.mark.slow
def test_a_recurrent_cell_search_with_shared_weights_derives_a_cell(tmp_path):
    shared = [
        "evaluator=shared",
        "evaluator.recipe.epochs=2",
        "evaluator.recipe.optimizer=adam",
        "evaluator.recipe.lr=3e-3",
        "evaluator.controller_steps=2",
        "evaluator.derive_samples=4",
    ]
    summary, _ = run_search(tmp_path, [*RNN_ANYWHERE, *shared, "test_best=false"])
    ranking = json.loads((tmp_path / "derive.json").read_text())["ranking"]
    assert ranking and all(Architecture.from_dict(r["arch"]).space == "rnn" for r in ranking)
    assert summary["best"]["arch"] == ranking[0]["arch"]


@pytest.mark.slow
@pytest.mark.parametrize("controller", ["random", "evolution"])
def test_the_baselines_search_recurrent_cells(tmp_path, controller):
    extra = (
        ["controller.population=3", "controller.sample_size=2"] if controller == "evolution" else []
    )
    summary, _ = run_search(
        tmp_path, [*RNN_TINY, f"controller={controller}", "test_best=false", *extra]
    )
    assert summary["controller"] == controller and summary["children"] == 6
    rows = [json.loads(line) for line in (tmp_path / "children.jsonl").read_text().splitlines()]
    archs = [Architecture.from_dict(row["arch"]) for row in rows]
    assert all(RNNSpace(nodes=4).encode(arch) for arch in archs)  # every child is a legal cell


def one_hot(space: RNNSpace, arch: Architecture) -> dict[str, torch.Tensor]:
    """DARTS mixing weights that pick exactly `arch`: one 1 per decision."""
    return {
        decision.name: F.one_hot(torch.tensor(token), len(decision.options)).float()
        for decision, (token,) in space.walk(space.encode(arch))
    }


def test_the_relaxation_of_one_hot_weights_is_the_child_itself():
    space = RNNSpace(nodes=4)
    torch.manual_seed(0)
    net = build_rnn_supernet(RNNSpaceConfig(nodes=4, hidden=8), (1, 10), 3)
    x = torch.randn(4, 1, 10)
    for tokens in itertools.islice(all_token_lists(space), 0, None, 61):
        arch = space.decode(tokens)
        torch.testing.assert_close(net.forward_mixed(x, one_hot(space, arch)), net(x, arch))
    # Uniform weights mix every input and activation: gradients reach every edge.
    uniform = {
        d.name: torch.tensor([float(a) for a in d.allowed or [1] * len(d.options)])
        for d, _ in space.walk(tokens)
    }
    uniform = {name: w / w.sum() for name, w in uniform.items()}
    F.cross_entropy(net.forward_mixed(x, uniform), torch.arange(4) % 3).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


@pytest.mark.slow
def test_darts_searches_recurrent_cells_through_the_relaxation(tmp_path):
    darts = [
        "controller=darts",
        "evaluator=shared",
        "evaluator.recipe.epochs=2",
        "evaluator.recipe.optimizer=adam",
        "evaluator.recipe.lr=3e-3",
    ]
    summary, printed = run_search(tmp_path, [*RNN_ANYWHERE, *darts, "test_best=false"])
    derived = json.loads((tmp_path / "derive.json").read_text())
    arch = Architecture.from_dict(summary["best"]["arch"])
    assert RNNSpace(nodes=4).encode(arch)  # a legal cell
    # The argmax of the saved weights: each node's heaviest activation.
    for i, layer in enumerate(arch.layers):
        weights = derived["weights"][f"node{i}.act"]
        assert layer.op == max(weights, key=weights.get)
    assert "supernet loss" in printed and "parameter-free" not in printed  # no such ops here
