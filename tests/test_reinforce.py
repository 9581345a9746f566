import numpy as np
import pytest

from child.spaces import MacroSpace
from child.spaces.macro import MACRO_OPS
from controller.config import LSTMControllerConfig
from controller.reinforce import ReinforceController

SPACE = MacroSpace(num_layers=4, ops=MACRO_OPS, widths=(16, 32, 64))


def conv3_fraction(arch) -> float:
    return sum(layer.op == "conv3" for layer in arch.layers) / len(arch.layers)


def train_on_toy_reward(cfg: LSTMControllerConfig, updates: int) -> ReinforceController:
    controller = ReinforceController(SPACE, cfg, seed=0)
    for _ in range(updates):
        archs = controller.propose(5)
        controller.learn(archs, [conv3_fraction(a) for a in archs])
    return controller


def test_reinforce_drives_the_rewarded_choice_above_ninety_percent():
    controller = train_on_toy_reward(LSTMControllerConfig(lr=0.01), updates=40)
    sampled = controller.propose(400)
    assert np.mean([conv3_fraction(a) for a in sampled]) > 0.9
    assert conv3_fraction(controller.favourite()) == 1.0


def test_without_updates_the_choice_stays_near_uniform():
    controller = train_on_toy_reward(LSTMControllerConfig(lr=0.01), updates=0)
    sampled = controller.propose(400)
    assert np.mean([conv3_fraction(a) for a in sampled]) == pytest.approx(1 / 8, abs=0.05)


def test_baseline_starts_at_the_first_mean_then_moves_as_an_ema():
    controller = ReinforceController(SPACE, LSTMControllerConfig(baseline_decay=0.5), seed=0)
    archs = controller.propose(2)
    stats = controller.learn(archs, [0.2, 0.4])
    assert stats["baseline"] == pytest.approx(0.3)
    assert controller.baseline == pytest.approx(0.5 * (0.5 * 0.3 + 0.5 * 0.2) + 0.5 * 0.4)


def test_skip_kl_penalty_pulls_skip_density_towards_the_target():
    cfg = LSTMControllerConfig(skip_weight=5.0, skip_target=0.05, entropy_weight=0.0, lr=0.02)
    controller = ReinforceController(SPACE, cfg, seed=0)
    for _ in range(40):
        archs = controller.propose(5)
        controller.learn(archs, [0.5] * len(archs))  # no reward signal: only the KL acts
    sampled = controller.propose(200)
    density = np.mean(
        [len(layer.inputs) / i for a in sampled for i, layer in enumerate(a.layers) if i > 0]
    )
    assert density < 0.2


def test_state_dict_round_trip_continues_identically():
    a = train_on_toy_reward(LSTMControllerConfig(), updates=3)
    b = ReinforceController(SPACE, LSTMControllerConfig(), seed=123)
    b.load_state_dict(a.state_dict())
    assert a.propose(5) == b.propose(5)
