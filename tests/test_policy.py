from collections.abc import Sequence

import numpy as np
import pytest
import torch

from child.spaces.macro.space import MACRO_OPS, MacroSpace
from controller.policy import LSTMPolicy
from core.architecture import Architecture, Layer
from core.space import Choice, Decision, SearchSpace

SPACE = MacroSpace(num_layers=4, ops=MACRO_OPS, widths=(16, 32, 64))


@pytest.mark.parametrize("num_layers", [1, 2])
def test_rescoring_sampled_tokens_gives_the_same_log_prob_and_entropy(num_layers):
    torch.manual_seed(0)
    policy = LSTMPolicy(SPACE, hidden_size=32, num_layers=num_layers)
    generator = torch.Generator().manual_seed(0)
    for _ in range(20):
        sampled = policy.sample(4, generator)
        rescored = policy.score(sampled.tokens)
        assert rescored.tokens == sampled.tokens
        assert torch.allclose(rescored.log_prob, sampled.log_prob, atol=1e-5)
        assert torch.allclose(rescored.entropy, sampled.entropy, atol=1e-5)
        # A row scores the same alone as in a batch.
        alone = policy.score(sampled.tokens[2:3])
        assert alone.log_prob.item() == pytest.approx(sampled.log_prob[2].item(), abs=1e-5)
        assert SPACE.decode(sampled.tokens[0]).space == "macro"


def test_log_prob_is_a_proper_distribution_over_a_tiny_space():
    space = MacroSpace(num_layers=2, ops=("conv3", "identity"), widths=(8, 16))
    policy = LSTMPolicy(space, hidden_size=8)
    total = 0.0
    for op0 in range(2):
        for w0 in range(2):
            for op1 in range(2):
                for w1 in range(2):
                    for skip in range(2):
                        total += policy.score([[op0, w0, op1, w1, skip]]).log_prob.exp().item()
    assert total == pytest.approx(1.0, abs=1e-5)


def test_uniform_policy_entropy_is_the_log_of_the_choice_counts():
    policy = LSTMPolicy(SPACE, hidden_size=16)
    with torch.no_grad():
        for p in policy.parameters():
            p.zero_()
    rollout = policy.sample(1, torch.Generator().manual_seed(0))
    expected = 4 * (np.log(8) + np.log(3)) + 6 * np.log(2)  # 4 ops, 4 widths, 6 skip bits
    assert rollout.entropy.item() == pytest.approx(expected, rel=1e-5)
    assert rollout.skip_kl.item() > 0  # p = 0.5 differs from the 0.4 target


def test_tanh_constant_bounds_how_peaked_a_choice_can_get():
    policy = LSTMPolicy(SPACE, hidden_size=16, tanh_constant=1.0)
    with torch.no_grad():
        policy.heads["op"].bias.copy_(torch.tensor([100.0] + [-100.0] * 7))
    log_p = policy.score([SPACE.encode(SPACE.sample(np.random.default_rng(0)))]).log_prob
    best = torch.log_softmax(torch.tensor([1.0] + [-1.0] * 7), 0)[0].item()
    first = policy._choice_log_probs(SPACE.next_decision([]), torch.zeros(1, 16))
    assert first[0, 0].item() == pytest.approx(best, abs=1e-4)
    assert log_p.item() < 0


def test_greedy_decoding_is_deterministic_and_picks_the_argmax():
    policy = LSTMPolicy(SPACE, hidden_size=16)
    with torch.no_grad():
        policy.heads["op"].bias[MACRO_OPS.index("sep5")] = 10.0
    a, b = policy.sample(1, greedy=True), policy.sample(1, greedy=True)
    assert a.tokens == b.tokens
    assert all(layer.op == "sep5" for layer in SPACE.decode(a.tokens[0]).layers)


class MaskedSpace(SearchSpace):
    """Three decisions; the second may never pick option 0 (a conditional-space mask)."""

    name = "masked"

    def next_decision(self, tokens: Sequence[int]) -> Decision | None:
        if len(tokens) >= 3:
            return None
        allowed = (False, True, True) if len(tokens) == 1 else None
        return Choice(f"d{len(tokens)}", "x", ("a", "b", "c"), allowed=allowed)

    def heads(self) -> dict[str, int]:
        return {"x": 3}

    def decode(self, tokens):
        return Architecture("masked", tuple(Layer("abc"[t]) for t in tokens))

    def encode(self, arch):
        return ["abc".index(layer.op) for layer in arch.layers]


def test_masked_options_are_never_sampled_and_have_zero_probability():
    policy = LSTMPolicy(MaskedSpace(), hidden_size=8)
    with torch.no_grad():
        policy.heads["x"].bias.copy_(torch.tensor([5.0, 0.0, 0.0]))  # favour the masked option
    generator = torch.Generator().manual_seed(0)
    seen = {tokens[1] for tokens in policy.sample(200, generator).tokens}
    assert 0 not in seen
    assert policy.score([[0, 0, 0]]).log_prob.item() == float("-inf")
    assert np.isfinite(policy.score([[0, 1, 0]]).entropy.item())
