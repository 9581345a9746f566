"""Zero-cost proxies (evaluator=proxy) and the proxy warm start.

Each proxy is checked against a value computed by hand, independently of torch's autograd, on
a tiny fixed network: x → W1 → ReLU → W2 (no biases), 2 inputs, 3 hidden units, 2 classes.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from app.config import compose_config, typed_config
from app.parts import build_parts
from app.warm_start import WarmStartConfig, check_warm_start, warm_start
from child.data.datasets import load_dataset
from child.evaluation.evaluator import ChildJob, child_seed
from child.evaluation.proxy import (
    PROXIES,
    ProxyEvaluator,
    ProxyEvaluatorConfig,
    ProxyNormaliser,
    jacob_cov_score,
    proxy_scores,
    score_network,
)
from child.spaces import build_space
from core.errors import ConfigError
from tests.helpers import TINY_ANYWHERE, run_script, run_search
from tests.test_bad_input import assert_refused

W1 = np.array([[1.0, -2.0], [0.5, 1.5], [-1.0, 0.25]])  # 3 hidden × 2 inputs
W2 = np.array([[2.0, -1.0, 0.5], [-0.5, 1.0, 3.0]])  # 2 classes × 3 hidden
X = np.array([[1.0, 0.2], [-0.3, 1.0], [0.7, -0.9], [0.1, 0.5]])
Y = np.array([0, 1, 1, 0])
TINY_PROXY = [
    *(o for o in TINY_ANYWHERE if o != "child.epochs=1"),
    "evaluator=proxy",
    "evaluator.reference=8",
    "evaluator.batch_size=16",
]


def tiny_net(w1: np.ndarray = W1, w2: np.ndarray = W2) -> nn.Module:
    """The fixed two-layer network x → w1 → ReLU → w2, as torch modules."""
    net = nn.Sequential(
        nn.Linear(w1.shape[1], w1.shape[0], bias=False),
        nn.ReLU(),
        nn.Linear(w2.shape[1], w2.shape[0], bias=False),
    )
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor(w1))
        net[2].weight.copy_(torch.tensor(w2))
    return net.double()


def score(proxy: str, x: np.ndarray = X, w1: np.ndarray = W1) -> float:
    """The tiny network's score under `proxy`, on the one minibatch (x, Y)."""
    batch = [(torch.tensor(x), torch.tensor(Y))]
    return score_network(tiny_net(w1), proxy, batch, (x.shape[1],))


def loss_gradients() -> tuple[np.ndarray, np.ndarray]:
    """∂L/∂W1 and ∂L/∂W2 of the mean cross-entropy, by the chain rule written out."""
    z1 = X @ W1.T
    a = np.maximum(z1, 0)
    z2 = a @ W2.T
    p = np.exp(z2 - z2.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    dz2 = (p - np.eye(2)[Y]) / len(X)
    dw2 = dz2.T @ a
    dz1 = (dz2 @ W2) * (z1 > 0)
    return dz1.T @ X, dw2


def test_params_and_flops_count_the_weights_and_multiply_adds():
    assert score("params") == 6 + 6
    assert score("flops") == 2 * (2 * 3 + 3 * 2)  # one example: a multiply-add is 2 FLOPs


def test_synflow_is_the_sum_of_abs_weight_times_gradient_on_ones():
    # With |W| and an all-ones input every ReLU passes: R = 1ᵀ|W2||W1|1.
    h = np.abs(W1) @ np.ones(2)
    column = np.abs(W2).sum(axis=0)  # ∂R/∂h
    expected = (np.abs(W2) * h[None, :]).sum() + (np.abs(W1) * column[:, None]).sum()
    assert score("synflow") == pytest.approx(expected, rel=1e-12)


def test_snip_and_grad_norm_follow_the_loss_gradient():
    dw1, dw2 = loss_gradients()
    assert score("snip") == pytest.approx(np.abs(W1 * dw1).sum() + np.abs(W2 * dw2).sum())
    assert score("grad_norm") == pytest.approx(np.linalg.norm(dw1) + np.linalg.norm(dw2))


def test_jacob_cov_scores_the_correlation_of_input_gradients():
    # Four inputs (with two, any two gradients correlate at ±1).
    w1 = np.array([[1.0, -2.0, 0.3, 0.0], [0.5, 1.5, -1.0, 2.0], [-1.0, 0.25, 1.0, 0.5]])
    x = np.array([[1.0, 0.2, 0.5, -1.0], [-0.3, 1.0, 0.1, 0.2], [0.7, -0.9, 1.2, 0.4]])
    x = np.vstack([x, [0.1, 0.4, 0.6, 0.9]])
    # ∂(Σ outputs)/∂x for one example: 1ᵀ W2 diag(relu'(W1 x)) W1.
    rows = np.stack([((np.ones(2) @ W2) * (w1 @ e > 0)) @ w1 for e in x])
    eig = np.clip(np.linalg.eigvalsh(np.corrcoef(rows)), 0, None)
    expected = -np.sum(np.log(eig + 1e-5) + 1 / (eig + 1e-5))
    assert score("jacob_cov", x, w1) == pytest.approx(expected, rel=1e-9)
    assert math.isnan(jacob_cov_score(np.ones((3, 4))))  # constant gradients: undefined


def test_naswot_is_the_log_determinant_of_the_hamming_kernel():
    codes = (X @ W1.T > 0).astype(float)  # each example's ReLU pattern
    assert codes.tolist() == [[1, 1, 0], [0, 1, 1], [1, 0, 0], [0, 1, 1]]
    # Examples 1 and 3 share a code: the kernel is singular, the score undefined.
    assert math.isnan(score("naswot"))
    distinct = X[[0, 1, 2]]
    codes = (distinct @ W1.T > 0).astype(float)
    kernel = codes @ codes.T + (1 - codes) @ (1 - codes).T
    assert kernel.tolist() == [[3, 1, 2], [1, 3, 0], [2, 0, 3]]  # units that agree
    batch = [(torch.tensor(distinct), torch.tensor(Y[[0, 1, 2]]))]
    got = score_network(tiny_net(), "naswot", batch, (2,))
    assert got == pytest.approx(math.log(12))  # det = 3·9 − 1·3 + 2·(−6)


def test_the_normalised_reward_grows_with_the_score_and_sits_at_half_on_the_median():
    reference = [10.0**k for k in range(1, 10)]
    normalise = ProxyNormaliser("synflow", reference)
    assert normalise(1e5) == pytest.approx(0.5)
    rewards = [normalise(s) for s in (0.0, 1.0, 1e3, 1e5, 1e7, 1e30, 1e300)]
    assert rewards[0] == 0.0 and all(0 <= r <= 1 for r in rewards)
    assert all(a < b for a, b in zip(rewards[:-2], rewards[1:-1], strict=True))
    plain = ProxyNormaliser("naswot", [1.0, 2.0, 3.0, 4.0, 5.0])
    assert plain(3.0) == pytest.approx(0.5) and plain(2.0) < 0.5 < plain(4.0)


@pytest.fixture(scope="module")
def digits():
    """The digits data set and the default space's config, with 6 sampled architectures."""
    cfg = typed_config(compose_config(["dataset=digits"]))
    space, rng = build_space(cfg.search_space), np.random.default_rng(3)
    archs = [space.sample(rng) for _ in range(6)]
    return load_dataset(cfg.dataset, 0), cfg.search_space, archs


@pytest.mark.parametrize("proxy", PROXIES)
def test_scores_depend_only_on_the_seed(digits, proxy):
    data, space_cfg, archs = digits
    first = proxy_scores(archs, data, space_cfg, proxy, seed=5, batches=2, batch_size=16)
    again = proxy_scores(archs, data, space_cfg, proxy, seed=5, batches=2, batch_size=16)
    assert first == again and all(math.isfinite(s) for s in first)
    assert len(set(first)) > 1  # it tells architectures apart


def test_weight_dependent_scores_change_with_the_initialisation(digits):
    data, space_cfg, archs = digits
    # synflow reads no data: only the weights, drawn from each child's seed, can change it.
    a = proxy_scores(archs, data, space_cfg, "synflow", seed=5)
    b = proxy_scores(archs, data, space_cfg, "synflow", seed=6)
    assert all(x != y for x, y in zip(a, b, strict=True))


def test_a_combined_proxy_rewards_the_mean_of_its_parts_rewards(digits):
    data, space_cfg, archs = digits
    device = torch.device("cpu")

    def evaluator(proxy):
        cfg = ProxyEvaluatorConfig(proxy=proxy, batch_size=16, reference=16)
        return ProxyEvaluator(cfg, data, space_cfg, seed=2, device=device)

    both, snip, params = evaluator("snip+params"), evaluator("snip"), evaluator("params")
    for i, arch in enumerate(archs):
        job = ChildJob(i, arch, child_seed(2, i))
        one, two, mean = snip.evaluate_one(job), params.evaluate_one(job), both.evaluate_one(job)
        assert mean.reward == pytest.approx((one.reward + two.reward) / 2)
        assert mean.val_acc == mean.reward  # raw scales do not add up: the value is the reward
        assert mean.report == {
            "proxy_snip+params": mean.reward,
            "proxy_snip": one.val_acc,
            "proxy_params": two.val_acc,
        }
    assert "mean of the normalised zero-cost proxies snip, params" in (
        ProxyEvaluatorConfig(proxy="snip+params").value_meaning
    )


@pytest.mark.parametrize("controller", ["lstm", "softmax", "random", "evolution"])
def test_a_proxy_search_records_raw_scores_and_normalised_rewards(tmp_path, controller):
    overrides = [*TINY_PROXY, f"controller={controller}", "evaluator.proxy=synflow"]
    summary, printed = run_search(tmp_path / "run", [*overrides, "test_best=false"])
    records = [json.loads(line) for line in (tmp_path / "run" / "children.jsonl").open()]
    assert summary["children"] == 6 and len(records) >= 6
    for record in records:
        assert record["status"] == "ok"
        assert record["report"] == {"proxy_synflow": record["val_acc"]}
        assert 0 < record["reward"] < 1 and record["val_acc"] > 1  # a score, not an accuracy
    best = max((r for r in records if not r["cached"]), key=lambda r: r["val_acc"])
    assert summary["best"]["index"] == best["index"]  # the reward orders as the raw score


def test_a_proxy_search_reports_the_retrained_pick(tmp_path):
    summary, _ = run_search(tmp_path / "run", [*TINY_PROXY, "evaluator.proxy=naswot"])
    assert summary["test_acc"] is not None and 0 <= summary["test_acc"] <= 1


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        (["evaluator.proxy=zen"], ["evaluator.proxy", "synflow"]),
        (["evaluator.batches=0"], ["evaluator.batches"]),
        (["evaluator.batch_size=1"], ["evaluator.batch_size"]),
        (["evaluator.reference=3"], ["evaluator.reference"]),
        (["evaluator.proxy=snip+snip"], ["evaluator.proxy", "snip+snip", "distinct"]),
        (["evaluator.proxy=snip+bogus"], ["evaluator.proxy", "snip+bogus"]),
        (["reward=zoph"], ["reward=zoph", "evaluator=proxy"]),
        (["controller=darts"], ["controller=darts", "evaluator=shared"]),
        (
            ["search_space=rnn", "dataset=mnist1d", "evaluator.proxy=naswot"],
            ["evaluator.proxy='naswot'", "search_space=rnn"],
        ),
    ],
)
def test_bad_proxy_settings_are_refused_in_one_line(tmp_path, overrides, words):
    outcome = run_script("search.py", *TINY_PROXY, *overrides, cwd=tmp_path)
    assert_refused(outcome, *words)
    assert not any(Path(tmp_path).rglob("children.jsonl"))


def test_warm_start_teaches_the_policy_and_restarts_its_baseline(digits):
    data, space_cfg, _ = digits
    cfg = typed_config(compose_config(["dataset=digits", "controller=softmax"]))
    parts = build_parts(cfg)
    before = {k: v.clone() for k, v in parts.controller.state_dict()["policy"].items()}
    settings = WarmStartConfig(children=8, proxy="params", reference=8)
    report = warm_start(parts.controller, settings, 2, data, space_cfg, seed=0)
    assert len(report.records) == 8 and report.updates == 4
    assert all(r["evaluation"] == "proxy" and r["warm_start"] for r in report.records)
    state = parts.controller.state_dict()
    assert state["baseline"] is None and state["recent"] == []
    changed = [not torch.equal(before[k], state["policy"][k]) for k in before]
    assert any(changed)  # it learned from the proxy rewards


def test_warm_start_prefers_what_the_proxy_rewards(digits):
    # Rewarding parameters for 200 proposals makes the policy propose larger networks.
    data, space_cfg, _ = digits
    cfg = typed_config(compose_config(["dataset=digits", "controller=softmax", "seed=1"]))
    cold = build_parts(cfg).controller
    warm = build_parts(cfg).controller
    warm_start(warm, WarmStartConfig(200, "params", reference=8), 2, data, space_cfg, seed=1)
    sizes = {}
    for name, controller in (("cold", cold), ("warm", warm)):
        archs = controller.propose(100)
        sizes[name] = np.mean(proxy_scores(archs, data, space_cfg, "params", 0, 1, 16))
    assert sizes["warm"] > 1.3 * sizes["cold"], sizes


def test_warm_start_settings_are_checked():
    check_warm_start(WarmStartConfig(), "random", "local")  # off: anything goes
    with pytest.raises(ConfigError, match="controller=random"):
        check_warm_start(WarmStartConfig(children=10), "random", "local")
    with pytest.raises(ConfigError, match="evaluator=table"):
        check_warm_start(WarmStartConfig(children=10), "lstm", "table")
    with pytest.raises(ConfigError, match="warm_start.proxy"):
        check_warm_start(WarmStartConfig(children=10, proxy="zen"), "lstm", "local")
    with pytest.raises(ConfigError, match="warm_start.children"):
        check_warm_start(WarmStartConfig(children=-1), "lstm", "local")


def test_a_warm_started_search_keeps_its_proxy_children_apart_and_resumes_without_them(tmp_path):
    run = tmp_path / "run"
    overrides = [*TINY_ANYWHERE, "evaluator.workers=1", "warm_start.children=6", "test_best=false"]
    summary, _ = run_search(run, overrides)
    warm = [json.loads(line) for line in (run / "warm_start.jsonl").open()]
    assert len(warm) == 6 and all(r["evaluation"] == "proxy" for r in warm)
    assert summary["warm_start"]["children"] == 6 and summary["warm_start"]["updates"] == 2
    children = [json.loads(line) for line in (run / "children.jsonl").open()]
    assert summary["children"] == 6 and all("evaluation" not in r for r in children)
    assert summary["best"]["index"] in {r["index"] for r in children}
    # A resumed run does not warm its (checkpointed) controller again.
    before = (run / "warm_start.jsonl").read_bytes()
    (run / "summary.json").unlink()
    resumed, _ = run_search(tmp_path / "unused", [f"resume={run}"])
    assert (run / "warm_start.jsonl").read_bytes() == before
    assert resumed["warm_start"]["children"] == 6


def test_a_warm_start_with_a_controller_it_cannot_teach_is_refused_in_one_line(tmp_path):
    outcome = run_script(
        "search.py", *TINY_ANYWHERE, "controller=random", "warm_start.children=4", cwd=tmp_path
    )
    assert_refused(outcome, "warm_start.children=4", "controller=random")


def test_a_proxy_search_says_its_value_is_a_score(tmp_path):
    summary, printed = run_search(tmp_path / "run", [*TINY_PROXY, "test_best=false"])
    assert "a score, not an accuracy" in summary["value_meaning"]
    assert "zero-cost proxy params" in printed and "validation accuracy" not in printed
