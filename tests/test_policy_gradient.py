"""The softmax policy, the PPO update and their configs (controller=softmax, experiment=ppo)."""

from collections.abc import Sequence

import numpy as np
import pytest
import torch

from app.config import compose_config, typed_config
from child.spaces.layers.space import LayersSpace, LayersSpaceConfig
from child.spaces.macro.space import MACRO_OPS, MacroSpace
from child.spaces.nb201.space import NB201_OPS, NB201Space
from controller.config import LSTMControllerConfig, SoftmaxControllerConfig
from controller.factory import build_controller
from controller.policy import LSTMPolicy
from controller.policy_gradient import PolicyGradientController
from controller.softmax_policy import SoftmaxPolicy, decision_table
from core.architecture import Architecture, Layer
from core.errors import ConfigError
from core.space import Choice, Decision, SearchSpace
from tests.helpers import run_script

NB201 = NB201Space(ops=NB201_OPS)
REWARDED = NB201_OPS.index("nor_conv_3x3")
MACRO = MacroSpace(num_layers=4, ops=MACRO_OPS, widths=(16, 32, 64))  # with skips
LAYERS = LayersSpace.from_config(LayersSpaceConfig())  # conditional, with masks


def conv3x3_share(arch: Architecture) -> float:
    """The toy reward: the share of the six edges that are a 3x3 conv (random: 0.2)."""
    return sum(layer.op == "nor_conv_3x3" for layer in arch.layers) / len(arch.layers)


def train(controller: PolicyGradientController, steps: int, batch: int) -> None:
    """`steps` updates of `batch` children on the toy reward."""
    for _ in range(steps):
        archs = controller.propose(batch)
        controller.learn(archs, [conv3x3_share(a) for a in archs])


def mean_reward(controller: PolicyGradientController) -> float:
    """The mean toy reward of 200 proposals."""
    return float(np.mean([conv3x3_share(a) for a in controller.propose(200)]))


def all_logits(controller: PolicyGradientController) -> torch.Tensor:
    """Every parameter of the controller's policy, flattened into one vector."""
    return torch.cat([p.detach().flatten() for p in controller.policy.parameters()])


def every_token_list(space: SearchSpace, prefix: Sequence[int] = ()) -> list[list[int]]:
    """All complete, legal token lists of a small space (skips: every bit pattern)."""
    decision = space.next_decision(prefix)
    if decision is None:
        return [list(prefix)]
    if isinstance(decision, Choice):
        answers = [[t] for t in decision.allowed_tokens()]
    else:
        n = decision.num_anchors
        answers = [[(k >> i) & 1 for i in range(n)] for k in range(2**n)]
    return [t for answer in answers for t in every_token_list(space, [*prefix, *answer])]


# --- The softmax policy -------------------------------------------------------------------


def test_softmax_reinforce_with_the_reference_settings_learns_the_rewarded_op():
    # The reference's schedule: one child per update, Adam lr 0.01, EMA baseline 0.9.
    controller = PolicyGradientController(NB201, SoftmaxControllerConfig(), seed=0)
    assert mean_reward(controller) == pytest.approx(0.2, abs=0.06)
    train(controller, steps=300, batch=1)
    with torch.no_grad():
        p_rewarded = [torch.softmax(p, 0)[REWARDED].item() for p in controller.policy.logits]
    assert len(p_rewarded) == 6 and min(p_rewarded) > 0.3  # every edge, from 0.2
    assert mean_reward(controller) > 0.4
    assert all(layer.op == "nor_conv_3x3" for layer in controller.favourite().layers)


def test_softmax_logits_start_near_zero_so_the_first_proposals_are_near_uniform():
    policy = PolicyGradientController(NB201, SoftmaxControllerConfig(), seed=0).policy
    assert all(p.abs().max().item() < 0.01 for p in policy.logits)
    rollout = policy.sample(1, torch.Generator().manual_seed(0))
    assert rollout.entropy.item() == pytest.approx(6 * np.log(5), rel=1e-4)


@pytest.mark.parametrize("space", [MACRO, LAYERS], ids=["macro-skips", "layers-conditional"])
def test_softmax_policy_samples_legal_architectures_and_rescores_them_exactly(space):
    torch.manual_seed(0)
    policy = SoftmaxPolicy(space, tanh_constant=2.5)
    with torch.no_grad():  # away from uniform, so that a wrong logit would show
        for p in policy.logits:
            p.normal_(0.0, 1.0)
    sampled = policy.sample(30, torch.Generator().manual_seed(0))
    for tokens in sampled.tokens:
        arch = space.decode(tokens)  # refuses illegal lists, masked layer types included
        assert space.encode(arch) == tokens
    assert len({tuple(t) for t in sampled.tokens}) > 20
    rescored = policy.score(sampled.tokens)
    assert torch.allclose(rescored.log_prob, sampled.log_prob, atol=1e-5)
    assert torch.allclose(rescored.entropy, sampled.entropy, atol=1e-5)
    assert torch.allclose(rescored.skip_kl, sampled.skip_kl, atol=1e-6)
    assert bool((sampled.skip_kl > 0).all()) == space.uses_skips
    greedy = policy.sample(2, greedy=True).tokens
    assert greedy[0] == greedy[1] == policy.sample(1, greedy=True).tokens[0]


def test_layers_space_masks_hold_under_the_softmax_policy():
    policy = SoftmaxPolicy(LAYERS, tanh_constant=0.0)
    with torch.no_grad():  # favour fc first, then conv: conv is masked after an fc layer
        policy.decision_logits("layer0.type").copy_(torch.tensor([0.0, 0.0, 9.0, 0.0]))
        for i in range(1, LAYERS.num_layers):
            policy.decision_logits(f"layer{i}.type").copy_(torch.tensor([9.0, 9.0, 0.0, 0.0]))
    archs = [LAYERS.decode(t) for t in policy.sample(50, torch.Generator().manual_seed(0)).tokens]
    assert all(a.layers[0].op == "fc" for a in archs)
    assert not any(layer.op in ("conv", "pool") for a in archs for layer in a.layers)
    assert LAYERS.decode(policy.sample(1, greedy=True).tokens[0]).layers[1].op in ("fc", "dropout")


@pytest.mark.parametrize(
    "space",
    [
        MacroSpace(num_layers=3, ops=("conv3", "identity"), widths=(8, 16)),
        LayersSpace.from_config(
            LayersSpaceConfig(
                num_layers=2,
                types=["conv", "fc", "dropout"],
                conv_kernels=[3],
                conv_filters=[8],
                fc_units=[4, 8],
                activations=["relu", "tanh"],
                dropout_rates=[0.2],
            )
        ),
    ],
    ids=["macro", "layers"],
)
def test_softmax_log_prob_is_a_proper_distribution(space):
    torch.manual_seed(1)
    policy = SoftmaxPolicy(space)
    with torch.no_grad():
        for p in policy.logits:
            p.normal_(0.0, 1.0)
    token_lists = every_token_list(space)
    total = policy.score(token_lists).log_prob.exp().sum().item()
    assert total == pytest.approx(1.0, abs=1e-5)


def test_the_decision_table_of_a_conditional_space_has_every_layer_and_parameter():
    table = decision_table(LAYERS)
    # Per layer: the type, conv's 4 parameters, pool's 2, fc's 2, dropout's 1.
    assert len(table) == LAYERS.num_layers * 10
    assert "layer5.pool.stride" in table and "layer0.dropout.rate" in table
    policy = SoftmaxPolicy(LAYERS)
    assert policy.decision_logits("layer3.conv.filters").shape == (3,)
    assert list(decision_table(MACRO))[:5] == [
        "layer0.op",
        "layer0.width",
        "layer1.op",
        "layer1.width",
        "layer1.skips",
    ]
    assert policy.decision_logits("layer2.type").shape == (4,)


class ClashingSpace(SearchSpace):
    """One decision name asked with 2 options on one path and 3 on the other."""

    name = "clash"

    def next_decision(self, tokens: Sequence[int]) -> Decision | None:
        """`first`, then `second` with 2 or 3 options depending on the first answer."""
        if not tokens:
            return Choice("first", "x", ("a", "b"))
        if len(tokens) == 1:
            return Choice("second", "x", ("a", "b", "c")[: 2 + tokens[0]])
        return None

    def heads(self) -> dict[str, int]:
        """One head, as wide as the widest decision."""
        return {"x": 3}

    def decode(self, tokens):
        """One layer per token."""
        return Architecture("clash", tuple(Layer("abc"[t]) for t in tokens))

    def encode(self, arch):
        """The inverse of `decode`."""
        return ["abc".index(layer.op) for layer in arch.layers]


def test_a_name_with_two_shapes_is_refused():
    with pytest.raises(ValueError, match="decision second"):
        SoftmaxPolicy(ClashingSpace())


@pytest.mark.parametrize(("temperature", "tanh_constant"), [(1.0, 0.0), (2.0, 0.0), (0.5, 1.5)])
def test_logit_shaping_is_the_lstm_policys(temperature, tanh_constant):
    raw = torch.tensor([3.0, -1.0, 0.5, 0.0, 8.0])
    lstm = LSTMPolicy(NB201, hidden_size=8, temperature=temperature, tanh_constant=tanh_constant)
    softmax = SoftmaxPolicy(NB201, temperature=temperature, tanh_constant=tanh_constant)
    with torch.no_grad():  # zero weights: the LSTM's output is 0, its logits the head's bias
        for p in lstm.parameters():
            p.zero_()
        lstm.heads["op"].bias.copy_(raw)
        for p in softmax.logits:
            p.copy_(raw)
    tokens = [[0, 1, 2, 3, 4, 4], [4, 4, 4, 0, 0, 1]]
    a, b = lstm.score(tokens), softmax.score(tokens)
    assert torch.allclose(a.log_prob, b.log_prob, atol=1e-5)
    assert torch.allclose(a.entropy, b.entropy, atol=1e-5)
    shaped = raw / temperature
    if tanh_constant:
        shaped = tanh_constant * torch.tanh(shaped)
    expected = 6 * torch.log_softmax(shaped, 0)[4].item()
    assert softmax.score([[4] * 6]).log_prob.item() == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("skip_kl_average", [False, True])
def test_skip_kl_is_the_lstm_policys(skip_kl_average):
    lstm = LSTMPolicy(MACRO, hidden_size=8, skip_kl_average=skip_kl_average)
    softmax = SoftmaxPolicy(MACRO, skip_kl_average=skip_kl_average)
    with torch.no_grad():  # both uniform: every skip probability is 0.5
        for p in [*lstm.parameters(), *softmax.parameters()]:
            p.zero_()
    tokens = softmax.sample(3, torch.Generator().manual_seed(0)).tokens
    a, b = lstm.score(tokens), softmax.score(tokens)
    assert torch.allclose(a.skip_kl, b.skip_kl) and torch.allclose(a.log_prob, b.log_prob)
    per_anchor = 0.5 * np.log(0.5 / 0.4) + 0.5 * np.log(0.5 / 0.6)
    expected = per_anchor * (1 + 2 + 3) / (3 if skip_kl_average else 1)
    assert b.skip_kl[0].item() == pytest.approx(expected, rel=1e-5)


# --- The controller with the softmax policy ------------------------------------------------


def test_controller_softmax_is_the_reference_reinforce():
    cfg = typed_config(compose_config(["controller=softmax"])).controller
    assert isinstance(cfg, SoftmaxControllerConfig)
    assert (cfg.lr, cfg.baseline_decay, cfg.tanh_constant) == (0.01, 0.9, 0.0)
    assert (cfg.entropy_weight, cfg.grad_clip, cfg.update) == (0.0, 0.0, "reinforce")
    controller = build_controller(cfg, NB201, seed=0)
    assert isinstance(controller, PolicyGradientController)
    assert isinstance(controller.policy, SoftmaxPolicy)
    ppo = typed_config(compose_config(["experiment=ppo"])).controller
    assert (ppo.name, ppo.update, ppo.ppo_epochs, ppo.ppo_clip) == ("lstm", "ppo", 4, 0.2)
    assert isinstance(build_controller(ppo, NB201, seed=0).policy, LSTMPolicy)


@pytest.mark.parametrize("update", ["reinforce", "ppo"])
def test_softmax_controller_state_dict_round_trip_continues_identically(update):
    cfg = SoftmaxControllerConfig(lr=0.05, update=update, advantage="rank", elite_size=2)
    a = PolicyGradientController(MACRO, cfg, seed=0)
    for _ in range(3):
        archs = a.propose(4)
        a.learn(archs, [sum(len(layer.inputs) for layer in x.layers) / 6 for x in archs])
    b = PolicyGradientController(MACRO, cfg, seed=7)
    b.load_state_dict(a.state_dict())
    archs = a.propose(4)
    assert archs == b.propose(4)
    rewards = [0.1, 0.9, 0.4, 0.2]
    assert a.learn(archs, rewards) == pytest.approx(b.learn(archs, rewards))
    assert a.propose(6) == b.propose(6)
    assert a.favourite() == b.favourite()


# --- PPO ------------------------------------------------------------------------------------


def test_ppo_with_the_lstm_policy_learns_the_toy_reward():
    cfg = LSTMControllerConfig(update="ppo", lr=5e-3, hidden_size=32)
    controller = PolicyGradientController(NB201, cfg, seed=0)
    before = mean_reward(controller)
    train(controller, steps=15, batch=5)
    assert before < 0.3 and mean_reward(controller) > 0.8


def test_ppo_gets_more_out_of_each_batch_than_reinforce():
    def trained(update: str) -> float:
        cfg = SoftmaxControllerConfig(lr=0.05, update=update)
        controller = PolicyGradientController(NB201, cfg, seed=0)
        train(controller, steps=40, batch=5)
        return mean_reward(controller)

    assert trained("ppo") > trained("reinforce") + 0.2


def test_ppo_with_one_epoch_takes_reinforces_step():
    # With one epoch ρ = 1 where the gradient is taken: the clipped surrogate's gradient
    # is then REINFORCE's.
    def trained(update: str) -> PolicyGradientController:
        cfg = SoftmaxControllerConfig(lr=0.05, update=update, ppo_epochs=1, entropy_weight=0.1)
        controller = PolicyGradientController(NB201, cfg, seed=0)
        train(controller, steps=5, batch=4)
        return controller

    ppo, reinforce = trained("ppo"), trained("reinforce")
    assert torch.allclose(all_logits(ppo), all_logits(reinforce), atol=1e-6)
    untrained = PolicyGradientController(NB201, SoftmaxControllerConfig(), seed=0)
    assert (all_logits(ppo) - all_logits(untrained)).abs().max() > 0.1  # it did move


def one_ppo_update(ppo_clip: float, ppo_epochs: int) -> tuple[torch.Tensor, dict[str, float]]:
    """A fresh softmax policy after one PPO update on one child with advantage +1."""
    cfg = SoftmaxControllerConfig(
        lr=0.05,
        adam_beta1=0.0,
        update="ppo",
        ppo_clip=ppo_clip,
        ppo_epochs=ppo_epochs,
        baseline_first=False,
    )
    controller = PolicyGradientController(NB201, cfg, seed=0)
    controller.baseline = 0.0  # below the reward: the child is better than expected
    stats = controller.learn(controller.propose(1), [1.0])
    return all_logits(controller), stats


def test_ppo_stops_pushing_a_child_once_its_ratio_leaves_the_clip_range():
    # The first step lifts the child's probability by a factor of about 1.6. Past 1 + ε the
    # clipped surrogate has no gradient, and without momentum (β₁ = 0) Adam then stands still.
    after_one, _ = one_ppo_update(ppo_clip=0.01, ppo_epochs=1)
    after_five, stats = one_ppo_update(ppo_clip=0.01, ppo_epochs=5)
    assert torch.equal(after_one, after_five)
    assert stats["clip_fraction"] == 1.0 and stats["approx_kl"] > 0
    # Inside a wide range (1 ± 0.9) the later epochs keep pushing the child up.
    wide_one, wide_one_stats = one_ppo_update(ppo_clip=0.9, ppo_epochs=1)
    wide_five, wide_stats = one_ppo_update(ppo_clip=0.9, ppo_epochs=5)
    assert not torch.equal(wide_one, wide_five)
    assert wide_stats["approx_kl"] > 2 * wide_one_stats["approx_kl"]
    assert wide_one_stats["clip_fraction"] == 0.0


def test_ppo_reports_reinforces_statistics_and_its_own():
    cfg = LSTMControllerConfig(update="ppo", ppo_epochs=2)
    controller = PolicyGradientController(MACRO, cfg, seed=0)
    archs = controller.propose(3)
    stats = controller.learn(archs, [0.1, 0.5, 0.9])
    reinforce_keys = {"loss", "baseline", "advantage", "entropy", "log_prob", "skip_kl"}
    ppo_keys = {"clip_fraction", "approx_kl", "proposal_log_ratio", "proposal_stored"}
    assert reinforce_keys | {"grad_norm"} | ppo_keys == set(stats)
    assert 0 <= stats["clip_fraction"] <= 1 and stats["approx_kl"] >= 0


# --- Config validation ----------------------------------------------------------------------


@pytest.mark.parametrize("schema", [LSTMControllerConfig, SoftmaxControllerConfig])
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("update", "a2c"),
        ("ppo_epochs", 0),
        ("ppo_clip", 0.0),
        ("ppo_clip", 1.0),
        ("lr", 0.0),
        ("baseline_decay", 1.0),
    ],
)
def test_impossible_policy_gradient_settings_fail_in_one_line_naming_the_key(schema, field, value):
    with pytest.raises(ConfigError, match=f"controller.{field}=") as err:
        build_controller(schema(**{field: value}), NB201, seed=0)
    assert "\n" not in str(err.value)


def test_a_bad_update_is_refused_on_the_command_line(tmp_path):
    outcome = run_script("search.py", "controller=softmax", "controller.update=a2c", cwd=tmp_path)
    lines = outcome.stderr.strip().splitlines()
    assert outcome.code == 2 and len(lines) == 1, outcome.stderr
    assert lines[0].startswith("error: controller.update='a2c' is invalid")
    assert "reinforce, ppo" in lines[0]


# --- The references' baseline, ENAS's entropy bonus, PPO's π_old (issue 22) ------------------


class ReferenceEMA:
    """NAS-Bench-201's reinforce.py ExponentialMovingAverage, restated: bias-corrected."""

    def __init__(self, momentum: float) -> None:
        self.numerator, self.denominator, self.momentum = 0.0, 0.0, momentum

    def update(self, value: float) -> None:
        self.numerator = self.momentum * self.numerator + (1 - self.momentum) * value
        self.denominator = self.momentum * self.denominator + (1 - self.momentum)

    def value(self) -> float:
        return self.numerator / self.denominator


ISSUE_REWARDS = (0.5, 0.8, 0.6, 0.9)  # the issue's example, one cell per update, decay 0.9


def advantages(cfg: SoftmaxControllerConfig) -> list[float]:
    controller = PolicyGradientController(NB201, cfg, seed=0)
    out = []
    for r in ISSUE_REWARDS:
        archs = controller.propose(1)
        out.append(controller.learn(archs, [r])["advantage"])
    return out


def test_controller_softmax_judges_each_cell_as_the_reference_does():
    # The reference: update the bias-corrected EMA with the reward, then A = R − EMA.
    ema, expected = ReferenceEMA(0.9), []
    for r in ISSUE_REWARDS:
        ema.update(r)
        expected.append(r - ema.value())
    got = advantages(SoftmaxControllerConfig())
    assert got == pytest.approx(expected, abs=1e-6)
    assert got[2] < 0  # (0.6 − 0.6365): the third cell is worse than the baseline
    # Judged against the baseline from before each cell, the third looks better (+0.07).
    before = advantages(SoftmaxControllerConfig(baseline_first=False, baseline_debias=False))
    assert before == pytest.approx([0.0, 0.3, 0.07, 0.363], abs=1e-6)


def test_baseline_first_without_debiasing_is_enas_order_from_the_first_mean():
    got = advantages(SoftmaxControllerConfig(baseline_first=True, baseline_debias=False))
    b, expected = ISSUE_REWARDS[0], []
    for r in ISSUE_REWARDS:
        b = 0.9 * b + 0.1 * r
        expected.append(r - b)
    assert got == pytest.approx(expected, abs=1e-6)


def test_the_entropy_bonus_in_the_reward_is_a_reward_not_a_gradient():
    # ENAS: R + w·H(sampled decisions), no gradient through H. The same updates as a controller
    # without an entropy term given those rewards; an entropy term in the loss moves differently.
    w = 0.05
    in_reward = PolicyGradientController(
        NB201, SoftmaxControllerConfig(lr=0.1, entropy_weight=w, entropy_reward=True), seed=0
    )
    plain = PolicyGradientController(
        NB201, SoftmaxControllerConfig(lr=0.1, entropy_weight=0.0), seed=0
    )
    in_loss = PolicyGradientController(
        NB201, SoftmaxControllerConfig(lr=0.1, entropy_weight=w), seed=0
    )
    for _ in range(6):
        archs = in_reward.propose(3)
        rewards = [conv3x3_share(a) for a in archs]
        entropy = plain.policy.score([NB201.encode(a) for a in archs]).entropy.detach()
        in_reward.learn(archs, rewards)
        plain.learn(archs, [r + w * h for r, h in zip(rewards, entropy.tolist(), strict=True)])
        in_loss.learn(archs, rewards)
    assert torch.allclose(all_logits(in_reward), all_logits(plain), atol=1e-6)
    assert in_reward.baseline == pytest.approx(plain.baseline)
    assert not torch.allclose(all_logits(in_loss), all_logits(plain), atol=1e-3)


def test_experiment_enas_uses_the_reference_baseline_order_and_entropy_bonus():
    cfg = typed_config(compose_config(["experiment=enas"])).controller
    assert (cfg.baseline_first, cfg.entropy_reward, cfg.entropy_weight) == (True, True, 1e-4)
    assert cfg.baseline_decay == 0.99


def ppo_controller(**kw) -> PolicyGradientController:
    cfg = SoftmaxControllerConfig(lr=0.1, update="ppo", baseline_first=False, **kw)
    return PolicyGradientController(NB201, cfg, seed=0)


def test_ppo_compares_with_the_policy_that_proposed_when_proposals_run_ahead():
    controller = ppo_controller()
    first, ahead = controller.propose(4), controller.propose(4)  # depth > 0: proposed ahead
    proposing = controller.policy.score([NB201.encode(a) for a in ahead]).log_prob.detach()
    controller.learn(first, [conv3x3_share(a) for a in first])
    moved = controller.policy.score([NB201.encode(a) for a in ahead]).log_prob.detach()
    assert not torch.allclose(moved, proposing)  # the policy moved since it proposed `ahead`
    stats = controller.learn(ahead, [conv3x3_share(a) for a in ahead])
    assert stats["proposal_stored"] == 1.0
    assert stats["proposal_log_ratio"] == pytest.approx((moved - proposing).mean().item(), 1e-5)
    # At learn time the policy that proposed is gone; "learn" takes the moved one as π_old.
    learn_time = ppo_controller(ppo_old="learn")
    first, ahead = learn_time.propose(4), learn_time.propose(4)
    learn_time.learn(first, [conv3x3_share(a) for a in first])
    assert learn_time.learn(ahead, [conv3x3_share(a) for a in ahead])["proposal_log_ratio"] == 0


def test_ppo_learns_the_same_whether_or_not_it_was_checkpointed_between_propose_and_learn():
    a = ppo_controller()
    first, ahead = a.propose(4), a.propose(4)
    b = ppo_controller()
    b.load_state_dict(a.state_dict())  # a resume: the stored log-probabilities come along
    for controller in (a, b):
        controller.learn(first, [conv3x3_share(x) for x in first])
    stats = [c.learn(ahead, [conv3x3_share(x) for x in ahead]) for c in (a, b)]
    assert stats[0] == pytest.approx(stats[1])
    assert stats[1]["proposal_stored"] == 1.0 and stats[1]["proposal_log_ratio"] != 0
    assert torch.equal(all_logits(a), all_logits(b))


def test_ppo_without_run_ahead_is_unchanged_by_where_pi_old_comes_from():
    runs = []
    for ppo_old in ("proposal", "learn"):
        controller = ppo_controller(ppo_old=ppo_old)
        train(controller, steps=5, batch=4)
        runs.append(all_logits(controller))
    assert torch.equal(runs[0], runs[1])
