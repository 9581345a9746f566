"""DARTS (controller=darts): the relaxation, the alphas' direction, the search, resume, refusals."""

from __future__ import annotations

import json

import pytest
import torch

from app.config import compose_config
from app.loops.darts import DartsSearch
from app.retrain import retrain_main
from child.data.datasets import DataSplits
from child.evaluation.config import SharedEvaluatorConfig
from child.evaluation.shared import SharedEvaluator
from child.spaces.macro.space import MacroSpace, MacroSpaceConfig, build_macro_supernet
from child.spaces.nb201.space import NB201Space, NB201SpaceConfig, build_nb201_supernet, make_arch
from controller.config import DartsControllerConfig
from controller.darts import DartsController
from core.architecture import Architecture
from core.space import Choice
from tests.helpers import run_script, run_search
from tests.test_bad_input import assert_refused, no_data  # noqa: F401 (a fixture)
from tests.test_supernet import macro_arch

# A DARTS search of seconds: 8×8 digits, a 3-layer macro space of one width.
TINY_DARTS = [
    "dataset=digits",
    "controller=darts",
    "evaluator=shared",
    "search_space.num_layers=3",
    "search_space.widths=[8]",
    "search_space.sum_norm=true",
    "evaluator.recipe.epochs=3",
    "evaluator.recipe.batch_size=256",
    "child.epochs=1",
    "child.threads=1",
]


def one_hot(controller: DartsController, arch: Architecture) -> dict[str, torch.Tensor]:
    """Mixing weights that select exactly `arch`: 1 on its options and skips, 0 elsewhere."""
    space = controller.space
    weights = {}
    for decision, answer in space.walk(space.encode(arch)):
        if isinstance(decision, Choice):
            weights[decision.name] = torch.zeros(len(decision.options))
            weights[decision.name][answer[0]] = 1.0
        else:
            weights[decision.name] = torch.tensor(answer, dtype=torch.float32)
    return weights


def test_one_hot_weights_run_exactly_the_child_nb201(one_thread):
    cfg = NB201SpaceConfig(channels=4, cells_per_stage=1)
    space = NB201Space.from_config(cfg)
    torch.manual_seed(0)
    net = build_nb201_supernet(cfg, (1, 12), 3)
    darts = DartsController(space, DartsControllerConfig(), seed=0)
    arch = make_arch(
        ["nor_conv_3x3", "avg_pool_3x3", "nor_conv_1x1", "skip_connect", "none", "nor_conv_3x3"]
    )
    x = torch.randn(5, 1, 12)
    torch.testing.assert_close(net.forward_mixed(x, one_hot(darts, arch)), net(x, arch))


def test_one_hot_widths_run_exactly_the_narrow_child_macro(one_thread):
    # Convs only, no skips: the soft channel mask is then exact (see forward_mixed).
    cfg = MacroSpaceConfig(
        num_layers=3, ops=["conv3", "sep5"], widths=[4, 8], stem_width=8, skips=False
    )
    space = MacroSpace.from_config(cfg)
    torch.manual_seed(0)
    net = build_macro_supernet(cfg, (1, 12), 3)
    darts = DartsController(space, DartsControllerConfig(), seed=0)
    arch = macro_arch(("conv3", 4, ()), ("sep5", 8, ()), ("conv3", 4, ()))
    x = torch.randn(5, 1, 12)
    torch.testing.assert_close(net.forward_mixed(x, one_hot(darts, arch)), net(x, arch))


def spike_pairs(n: int = 256, length: int = 24) -> DataSplits:
    """Two ±1 spikes 4 apart in weak noise; the label: do they have the same sign?

    The macro stem (conv3 → BN → ReLU) sees one spike at a time, so after it identity and
    average pooling leave global pooling only the counts of + and − spikes, which cannot
    separate (+,+) and (−,−) from (+,−): the midpoint of two points is not linearly
    separable from them. A conv3 on top sees both spikes (receptive field 5) and can.
    """
    generator = torch.Generator().manual_seed(0)
    signs = torch.randint(0, 2, (3 * n, 2), generator=generator).float() * 2 - 1
    start = torch.randint(2, length - 6, (3 * n,), generator=generator)
    x = 0.1 * torch.randn(3 * n, length, generator=generator)
    rows = torch.arange(3 * n)
    x[rows, start] += signs[:, 0]
    x[rows, start + 4] += signs[:, 1]
    x, y = x[:, None], (signs[:, 0] == signs[:, 1]).long()
    return DataSplits("toy", x[:n], y[:n], x[n : 2 * n], y[n : 2 * n], x[2 * n :], y[2 * n :], 2)


@pytest.mark.parametrize("seed", [0, 1])
def test_the_alphas_move_towards_the_op_that_is_needed(one_thread, seed):
    space_cfg = MacroSpaceConfig(
        num_layers=1, ops=["conv3", "avgpool3", "identity"], widths=[8], stem_width=8
    )
    shared = SharedEvaluatorConfig()
    shared.recipe.batch_size = 32
    evaluator = SharedEvaluator(shared, spike_pairs(), space_cfg, seed=seed)
    darts = DartsController(MacroSpace.from_config(space_cfg), DartsControllerConfig(), seed)
    for epoch in range(20):  # 160 alternating steps with DARTS's settings (Adam lr 3e-4)
        for _ in range(evaluator.begin_epoch(epoch)):
            loss, _ = evaluator.val_loss_mixed(darts.mixing_weights())
            darts.step(loss)
            evaluator.train_step_mixed(darts.mixing_weights(detach=True))
    weights = darts.probabilities()["layer0.op"]
    # Measured: conv3 0.354-0.365 against 0.318-0.323 for the others over seeds 0-5.
    assert weights["conv3"] > max(weights["avgpool3"], weights["identity"]) + 0.02, weights
    assert darts.favourite().layers[0].op == "conv3"


def test_a_darts_search_derives_the_argmax_and_retrains_it(tmp_path, one_thread):
    summary, printed = run_search(tmp_path / "run", TINY_DARTS)
    run = tmp_path / "run"
    best = json.loads((run / "best.json").read_text())
    derive = json.loads((run / "derive.json").read_text())
    # The saved logits' argmax is what was derived, and what best.json names.
    darts = DartsController(
        MacroSpace.from_config(MacroSpaceConfig(num_layers=3, widths=[8], sum_norm=True)),
        DartsControllerConfig(),
        seed=99,  # other initial logits: the saved ones must replace them
    )
    darts.load_state_dict(torch.load(run / "checkpoint.pt", weights_only=False)["controller"])
    argmax = darts.favourite()
    assert Architecture.from_dict(best["arch"]) == argmax
    assert [r["source"] for r in derive["ranking"]] == ["argmax"]
    assert derive["method"].startswith("DARTS") and derive["weights"] == darts.probabilities()
    assert best["derived"] == "argmax" and best["evaluation"] == "shared"
    assert summary["controller"] == "darts" and summary["test_acc"] is not None
    assert "DARTS (first order)" in printed and "derived architecture (argmax)" in printed
    # Every decision's weights in TensorBoard under the other controllers' policy/ tags.
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tags = EventAccumulator(str(run)).Reload().Tags()["scalars"]
    assert "policy/layer1.op/conv3" in tags and "policy/layer2.skips/from_0" in tags
    assert "controller/param_free_share" in tags and "supernet/val_loss_mixed" in tags

    retrained = retrain_main(
        compose_config(
            [f"run={run}", "child.epochs=1", "child.warmup_epochs=0", "child.threads=1"],
            name="retrain",
        ),
        tmp_path / "retrain",
    )
    assert retrained["arch"] == best["arch"] and 0 <= retrained["test_acc"] <= 1


def test_an_interrupted_darts_search_resumes_as_if_never_stopped(tmp_path, monkeypatch, one_thread):
    args = [*TINY_DARTS, "test_best=false", "seed=3"]
    straight, _ = run_search(tmp_path / "straight", args)

    epoch, calls = DartsSearch.epoch, []

    def dying_epoch(self):
        calls.append(1)
        if len(calls) == 2:  # killed inside the second epoch, after the first checkpoint
            raise KeyboardInterrupt
        epoch(self)

    monkeypatch.setattr(DartsSearch, "epoch", dying_epoch)
    killed = tmp_path / "killed"
    with pytest.raises(KeyboardInterrupt):
        run_search(killed, args)
    assert not (killed / "summary.json").exists()
    monkeypatch.setattr(DartsSearch, "epoch", epoch)
    resumed, printed = run_search(killed, [f"resume={killed}"])
    assert "Resuming" in printed
    derived = [json.loads((d / "derive.json").read_text()) for d in (killed, tmp_path / "straight")]
    assert derived[0] == derived[1]
    assert resumed["best"] == straight["best"] and resumed["shared"]["epochs"] == 3


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        (["controller=darts"], ("controller=darts", "evaluator=shared")),
        (["controller=darts", "evaluator=table"], ("controller=darts", "evaluator=shared")),
        (["controller=darts", "evaluator=ray"], ("controller=darts", "evaluator=shared")),
        (
            ["controller=darts", "evaluator=shared", "search_space=layers"],
            ("search_space=layers", "no one set of weights serves all paths"),
        ),
        (["controller=darts", "evaluator=shared", "controller.lr=0"], ("controller.lr",)),
        (["controller=darts", "evaluator=shared", "controller.beta1=1"], ("controller.beta1",)),
    ],
)
def test_darts_refuses_what_it_cannot_run_in_one_line(tmp_path, no_data, overrides, words):  # noqa: F811
    outcome = run_script("search.py", *overrides, cwd=tmp_path)
    assert_refused(outcome, *words)
    assert list(tmp_path.iterdir()) == []


def test_a_target_reward_stops_darts_after_the_epoch_its_argmax_reaches_it(tmp_path, one_thread):
    summary, printed = run_search(
        tmp_path, [*TINY_DARTS, "budget.target_reward=0.0", "test_best=false"]
    )
    assert summary["shared"]["epochs"] == 1  # of 3
    assert summary["stopped"].startswith("target reached: the argmax ")
    assert "Stopped early: target reached" in printed


def params(evaluator: SharedEvaluator) -> torch.Tensor:
    """Every shared weight, flattened into one vector."""
    return torch.cat([p.detach().flatten().clone() for p in evaluator.net.parameters()])


def test_the_alpha_step_reads_the_validation_split_and_the_weight_step_the_training_split(
    one_thread,
):
    # Training inputs are all +1, validation inputs all −1: what each step's forward pass
    # sees tells which split it read. The α step must also leave the weights alone, and the
    # weight step the αs.
    n, length = 64, 12
    ones = torch.ones(n, 1, length)
    labels = torch.zeros(n, dtype=torch.long)
    data = DataSplits("consts", ones, labels, -ones, labels + 1, 0 * ones, labels, 2)
    space_cfg = MacroSpaceConfig(num_layers=1, ops=["conv3", "identity"], widths=[4], stem_width=4)
    shared = SharedEvaluatorConfig()
    shared.recipe.batch_size = 16
    evaluator = SharedEvaluator(shared, data, space_cfg, seed=0)
    darts = DartsController(MacroSpace.from_config(space_cfg), DartsControllerConfig(), seed=0)
    seen: list[float] = []
    forward_mixed = evaluator.net.forward_mixed

    def recording(x, weights):
        seen.extend(x.unique().tolist())
        return forward_mixed(x, weights)

    evaluator.net.forward_mixed = recording
    evaluator.begin_epoch(0)
    for _ in range(3):
        weights_before = params(evaluator)
        alphas_before = darts.mixing_weights(detach=True)
        seen.clear()
        loss, _ = evaluator.val_loss_mixed(darts.mixing_weights())
        darts.step(loss)
        assert seen == [-1.0]  # the α step: validation data only
        assert torch.equal(params(evaluator), weights_before)
        alphas_after = darts.mixing_weights(detach=True)
        assert any(not torch.equal(alphas_before[k], alphas_after[k]) for k in alphas_after)
        seen.clear()
        evaluator.train_step_mixed(darts.mixing_weights(detach=True))
        assert seen == [1.0]  # the weight step: training data only
        assert not torch.equal(params(evaluator), weights_before)
        assert all(
            torch.equal(alphas_after[k], v) for k, v in darts.mixing_weights(detach=True).items()
        )
