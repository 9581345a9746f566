import numpy as np
import pytest

from child.spaces.macro.space import MACRO_OPS, MacroSpace
from controller.config import LSTMControllerConfig
from controller.factory import build_controller
from controller.policy_gradient import PolicyGradientController
from core.errors import ConfigError

SPACE = MacroSpace(num_layers=4, ops=MACRO_OPS, widths=(16, 32, 64))


def conv3_fraction(arch) -> float:
    return sum(layer.op == "conv3" for layer in arch.layers) / len(arch.layers)


def train_on_toy_reward(cfg: LSTMControllerConfig, updates: int) -> PolicyGradientController:
    controller = PolicyGradientController(SPACE, cfg, seed=0)
    for _ in range(updates):
        archs = controller.propose(5)
        controller.learn(archs, [conv3_fraction(a) for a in archs])
    return controller


def test_reinforce_drives_the_rewarded_choice_above_ninety_percent():
    controller = train_on_toy_reward(LSTMControllerConfig(lr=0.01), updates=40)
    sampled = controller.propose(400)
    assert np.mean([conv3_fraction(a) for a in sampled]) > 0.9
    assert conv3_fraction(controller.favourite()) == 1.0


def test_grad_clip_zero_means_no_clipping_and_the_controller_still_learns():
    # clip_grad_norm_(params, 0) would zero every gradient: the policy would never move.
    controller = train_on_toy_reward(LSTMControllerConfig(grad_clip=0.0), updates=40)
    assert np.mean([conv3_fraction(a) for a in controller.propose(400)]) > 0.9


def test_without_updates_the_choice_stays_near_uniform():
    controller = train_on_toy_reward(LSTMControllerConfig(lr=0.01), updates=0)
    sampled = controller.propose(400)
    assert np.mean([conv3_fraction(a) for a in sampled]) == pytest.approx(1 / 8, abs=0.05)


def test_baseline_starts_at_the_first_mean_then_moves_as_an_ema():
    controller = PolicyGradientController(SPACE, LSTMControllerConfig(baseline_decay=0.5), seed=0)
    archs = controller.propose(2)
    stats = controller.learn(archs, [0.2, 0.4])
    assert stats["baseline"] == pytest.approx(0.3)
    assert controller.baseline == pytest.approx(0.5 * (0.5 * 0.3 + 0.5 * 0.2) + 0.5 * 0.4)


def test_skip_kl_penalty_pulls_skip_density_towards_the_target():
    cfg = LSTMControllerConfig(skip_weight=5.0, skip_target=0.05, entropy_weight=0.0, lr=0.02)
    controller = PolicyGradientController(SPACE, cfg, seed=0)
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
    b = PolicyGradientController(SPACE, LSTMControllerConfig(), seed=123)
    b.load_state_dict(a.state_dict())
    assert a.propose(5) == b.propose(5)


def test_rank_advantage_is_the_centred_rank_within_batch_and_window():
    cfg = LSTMControllerConfig(advantage="rank", rank_window=4)
    controller = PolicyGradientController(SPACE, cfg, seed=0)
    archs = controller.propose(4)
    first = controller.learn(archs, [0.1, 0.2, 0.3, 0.4])
    # ranks 0.5/4 … 3.5/4 centred: −0.375, −0.125, 0.125, 0.375; mean 0
    assert first["advantage"] == pytest.approx(0.0)
    # Against the window [0.1 … 0.4], a batch of 0.9s beats 4 of 6 and ties 2: 5/6 − 0.5.
    second = controller.learn(archs[:2], [0.9, 0.9])
    assert second["advantage"] == pytest.approx(5 / 6 - 0.5)


def test_rank_advantage_ignores_the_scale_of_the_reward():
    def trained(scale: float) -> PolicyGradientController:
        controller = PolicyGradientController(SPACE, LSTMControllerConfig(advantage="rank"), seed=0)
        for _ in range(5):
            archs = controller.propose(5)
            controller.learn(archs, [scale * conv3_fraction(a) for a in archs])
        return controller

    assert trained(1.0).propose(20) == trained(1e-3).propose(20)


def test_rank_advantage_learns_the_toy_reward():
    cfg = LSTMControllerConfig(advantage="rank", lr=0.02)
    controller = train_on_toy_reward(cfg, updates=40)
    assert np.mean([conv3_fraction(a) for a in controller.propose(400)]) > 0.8


def test_elite_keeps_the_best_architectures_seen_and_pulls_the_policy_to_them():
    cfg = LSTMControllerConfig(elite_size=2, elite_weight=1.0, lr=0.05, entropy_weight=0.0)
    controller = PolicyGradientController(SPACE, cfg, seed=0)
    archs = controller.propose(4)
    stats = controller.learn(archs, [0.4, 0.9, 0.1, 0.8])
    assert set(controller.elite) == {archs[1], archs[3]}
    before = stats["elite_log_prob"]
    for _ in range(20):  # equal rewards: only the elite term moves the policy
        batch = controller.propose(4)
        stats = controller.learn(batch, [0.0] * 4)
    assert set(controller.elite) == {archs[1], archs[3]}  # zeros never displace the elite
    assert stats["elite_log_prob"] > before + 1.0


def test_rank_and_elite_state_survive_a_checkpoint():
    cfg = LSTMControllerConfig(advantage="rank", elite_size=3, elite_weight=0.5)
    a = PolicyGradientController(SPACE, cfg, seed=0)
    for _ in range(3):
        archs = a.propose(4)
        a.learn(archs, [conv3_fraction(x) for x in archs])
    b = PolicyGradientController(SPACE, cfg, seed=9)
    b.load_state_dict(a.state_dict())
    assert b.elite == a.elite and list(b.recent) == list(a.recent)
    archs = a.propose(4)
    assert archs == b.propose(4)
    rewards = [conv3_fraction(x) for x in archs]
    assert a.learn(archs, rewards) == pytest.approx(b.learn(archs, rewards))


@pytest.mark.parametrize(
    "field, value",
    [
        ("advantage", "ranks"),
        ("rank_window", -1),
        ("elite_size", -2),
        ("adam_beta1", 1.0),
        ("grad_clip", -1.0),
        ("entropy_weight", -1e-4),
        ("skip_weight", -0.8),
    ],
)
def test_impossible_settings_fail_with_the_key_named(field, value):
    with pytest.raises(ConfigError, match=f"controller.{field}"):
        build_controller(LSTMControllerConfig(**{field: value}), SPACE, seed=0)
