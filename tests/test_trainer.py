import math

import pytest
import torch
from torch import nn

from child.data.config import DigitsConfig
from child.data.datasets import load_dataset
from child.evaluation.config import ChildConfig
from child.evaluation.evaluator import ChildJob, evaluate_child
from child.evaluation.local import LocalEvaluator
from child.evaluation.rewards import CostReward, ValAccReward, ZophReward
from child.evaluation.trainer import lr_factor, train
from child.spaces.macro.space import MacroSpaceConfig
from core.architecture import Architecture, Layer

DIGITS = load_dataset(DigitsConfig(), seed=0)
ARCH = Architecture("macro", (Layer("conv3", (("width", 16),)), Layer("conv3", (("width", 16),))))
SPACE_CFG = MacroSpaceConfig(stem_width=8)


def test_a_child_learns_digits_and_reports_validation_accuracy_only():
    recipe = ChildConfig(epochs=4, batch_size=32, lr=0.1)
    result = evaluate_child(ChildJob(0, ARCH, 0), DIGITS, SPACE_CFG, recipe, ValAccReward())
    assert result.status == "ok"
    assert result.val_acc > 0.8  # chance is 0.1
    assert result.reward == result.val_acc
    assert result.test_acc is None
    assert result.params > 0 and result.seconds > 0


def test_same_seed_same_result_different_seed_different_result():
    def run(seed):
        return evaluate_child(
            ChildJob(0, ARCH, seed), DIGITS, SPACE_CFG, ChildConfig(epochs=1), ValAccReward()
        ).val_curve

    assert run(1) == run(1)
    assert run(1) != run(2)


def test_zoph_reward_is_the_cubed_max_of_the_last_epochs():
    result = evaluate_child(
        ChildJob(0, ARCH, 0),
        DIGITS,
        SPACE_CFG,
        ChildConfig(epochs=3),
        ZophReward(window=3, power=3),
    )
    assert len(result.val_curve) == 3
    assert result.reward == pytest.approx(max(result.val_curve) ** 3)


def test_cost_reward_penalises_only_params_over_the_target():
    cfg = CostReward(target_params=1000, alpha=0.0, beta=-0.5)
    assert cfg.compute([0.9], params=500) == pytest.approx(0.9)
    assert cfg.compute([0.9], params=4000) == pytest.approx(0.9 * 4**-0.5)


class NaNNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(1))

    def forward(self, x):
        return (x.flatten(1)[:, :10] * self.w) * float("nan")


def test_a_diverging_child_is_reported_not_raised():
    outcome = train(NaNNet(), DIGITS, ChildConfig(epochs=2), seed=0)
    assert outcome.status == "diverged"
    assert "non-finite" in outcome.message


def test_a_child_that_cannot_run_gets_status_error_and_reward_zero():
    bad = Architecture("macro", (Layer("conv3", (("width", 16),), inputs=(5,)),))
    evaluator = LocalEvaluator(DIGITS, SPACE_CFG, ChildConfig(epochs=1), ValAccReward())
    (result,) = list(evaluator.evaluate([ChildJob(3, bad, 0)]))
    assert result.status == "error"
    assert result.reward == 0.0 and result.index == 3
    assert result.message


def test_cosine_schedule_starts_at_one_and_ends_near_zero_after_warmup():
    assert lr_factor(0, 100, 10, "cosine") == pytest.approx(0.1)
    assert lr_factor(10, 100, 10, "cosine") == pytest.approx(1.0)
    assert lr_factor(99, 100, 10, "cosine") < 0.01
    assert lr_factor(50, 100, 0, "constant") == 1.0
    assert math.isclose(lr_factor(70, 100, 0, "step"), 0.01)


def test_latency_reward_uses_the_measured_forward_time():
    cfg = CostReward(cost_metric="latency", target_latency_ms=1e-6, beta=-0.1)
    result = evaluate_child(ChildJob(0, ARCH, 0), DIGITS, SPACE_CFG, ChildConfig(epochs=1), cfg)
    assert result.latency_ms is not None and result.latency_ms > 0
    expected = result.val_acc * (result.latency_ms / 1e-6) ** -0.1
    assert result.reward == pytest.approx(expected)
    assert result.reward < result.val_acc  # far over the (tiny) target: penalised


def test_the_trainer_does_the_arithmetic_of_a_plain_pytorch_loop():
    # Guards the training loop against changes of results: same init, shuffling, schedule,
    # clipping and updates as a hand-written loop, to the last bit (on a CPU).
    from child.spaces import build_network

    cfg = ChildConfig(epochs=2, batch_size=32, lr=0.1)

    def fresh():
        torch.manual_seed(0)
        return build_network(ARCH, DIGITS.input_shape, DIGITS.num_classes, SPACE_CFG)

    ours = fresh()
    assert train(ours, DIGITS, cfg, seed=7).status == "ok"
    plain = fresh()
    params = list(plain.parameters())
    opt = torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
    generator = torch.Generator().manual_seed(7)
    n = len(DIGITS.train_y)
    steps = n // cfg.batch_size
    for epoch in range(cfg.epochs):
        plain.train()
        order = torch.randperm(n, generator=generator)
        for k in range(steps):
            opt.param_groups[0]["lr"] = cfg.lr * lr_factor(
                epoch * steps + k, 2 * steps, 0, "cosine"
            )
            idx = order[k * cfg.batch_size : (k + 1) * cfg.batch_size]
            loss = nn.functional.cross_entropy(plain(DIGITS.train_x[idx]), DIGITS.train_y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            opt.step()
    for (name, a), b in zip(ours.state_dict().items(), plain.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_a_child_trains_with_its_recipes_threads_whatever_the_callers(monkeypatch):
    # Why local and Ray agree at child.threads=N: the child, not its caller, sets the count.
    recipe = ChildConfig(epochs=1, threads=1)
    job = ChildJob(0, ARCH, 3)
    seen = []

    def counting_train(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return train(*args, **kwargs)

    monkeypatch.setattr("child.evaluation.evaluator.train", counting_train)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        wide = evaluate_child(job, DIGITS, SPACE_CFG, recipe, ValAccReward())
        torch.set_num_threads(1)
        narrow = evaluate_child(job, DIGITS, SPACE_CFG, recipe, ValAccReward())
    finally:
        torch.set_num_threads(before)
    assert seen == [1, 1]
    assert wide.val_curve == narrow.val_curve
