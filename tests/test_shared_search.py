"""Weight sharing (evaluator=shared): ENAS's schedule, records, derive, baselines and resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from app.loops import shared_weights
from child.evaluation.shared import SharedEvaluator
from child.spaces import format_arch
from tests.helpers import SEARCH_SCRIPT, run_search, search_cli
from tests.test_bad_input import no_data  # noqa: F401 (a fixture)

# A shared-weight search of seconds: 8×8 digits, a 3-layer macro space of one width.
TINY_SHARED = [
    "dataset=digits",
    "evaluator=shared",
    "search_space.num_layers=3",
    "search_space.widths=[8]",
    "search_space.sum_norm=true",
    "evaluator.recipe.epochs=2",
    "evaluator.recipe.batch_size=256",
    "evaluator.controller_steps=2",
    "evaluator.derive_samples=6",
    "budget.batch=3",
    "child.epochs=1",
    "child.threads=1",
]


def rows(run_dir):
    return [json.loads(line) for line in (run_dir / "children.jsonl").read_text().splitlines()]


def test_the_schedule_alternates_training_and_controller_updates(tmp_path, monkeypatch):
    events = []
    train_step, evaluate = SharedEvaluator.train_step, SharedEvaluator.evaluate

    def recording_train_step(self, arch):
        events.append("train")
        return train_step(self, arch)

    def recording_evaluate(self, jobs):
        events.append(f"update of {len(jobs)}")
        return evaluate(self, jobs)

    monkeypatch.setattr(SharedEvaluator, "train_step", recording_train_step)
    monkeypatch.setattr(SharedEvaluator, "evaluate", recording_evaluate)
    summary, printed = run_search(tmp_path, [*TINY_SHARED, "test_best=false"])
    # digits: 1,150 training images in minibatches of 256 → 5 steps per epoch.
    epoch = ["train"] * 5 + ["update of 3"] * 2
    assert events == epoch * 2
    records = rows(tmp_path)
    assert [r["epoch"] for r in records] == [1] * 6 + [2] * 6
    assert [r["step"] for r in records] == [1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]
    assert all(r["evaluation"] == "shared" and not r["cached"] for r in records)
    assert summary["shared"]["epochs"] == 2 and summary["children"] == 12
    assert "validation accuracy (shared weights)" in printed

    scalars = EventAccumulator(str(tmp_path)).Reload().Tags()["scalars"]
    for tag in ("supernet/train_loss", "supernet/train_acc", "controller/param_free_share"):
        assert tag in scalars
    events_of = EventAccumulator(str(tmp_path)).Reload()
    assert [e.step for e in events_of.Scalars("supernet/train_loss")] == [1, 2]


def test_derive_ranks_the_samples_and_the_greedy_pick_on_the_whole_validation_split(tmp_path):
    summary, _ = run_search(tmp_path, TINY_SHARED)
    derive = json.loads((tmp_path / "derive.json").read_text())
    ranking = derive["ranking"]
    assert 2 <= len(ranking) <= 7  # 6 samples + the greedy pick, repeats merged
    assert [r["rank"] for r in ranking] == list(range(1, len(ranking) + 1))
    assert derive["derive_by"] == "loss"  # the default: lowest validation loss first
    losses = [r["val_loss"] for r in ranking]
    assert losses == sorted(losses) and all(loss > 0 for loss in losses)
    assert "greedy" in {r["source"] for r in ranking}
    # Whole validation split: 288 digits, so every accuracy is a multiple of 1/288.
    accuracies = [r["val_acc"] for r in ranking]
    assert all(abs(a * 288 - round(a * 288)) < 1e-6 for a in accuracies)
    best = json.loads((tmp_path / "best.json").read_text())
    assert best["arch"] == ranking[0]["arch"] and best["val_acc"] == accuracies[0]
    assert best["seconds"] is None  # never trained alone in the search
    assert best["test_acc"] == summary["test_acc"] is not None  # retrained from scratch


@pytest.mark.parametrize(
    ("derive_by", "expected"),
    [("accuracy", "the highest accuracy"), ("loss", "the lowest loss")],
)
def test_derive_picks_the_candidate_best_by_its_setting(tmp_path, monkeypatch, derive_by, expected):
    # Made-up (accuracy, loss) pairs in which the best accuracy and the lowest loss belong to
    # different candidates, neither the greedy pick (ranked first) nor the last sample.
    scores = iter([(0.2, 1.0), (0.9, 0.8), (0.4, 0.3), (0.1, 2.0), (0.3, 0.9), (0.5, 0.6)] * 2)
    scored: dict[str, tuple[float, float]] = {}

    def made_up_score(self, arch):
        scored[format_arch(arch)] = value = next(scores)
        return value

    monkeypatch.setattr(SharedEvaluator, "score_with_loss", made_up_score)
    overrides = [
        "test_best=false",
        "evaluator.derive_samples=6",
        f"evaluator.derive_by={derive_by}",
    ]
    run_search(tmp_path, [*TINY_SHARED, *overrides])
    derive = json.loads((tmp_path / "derive.json").read_text())
    candidates = [r["arch_str"] for r in derive["ranking"]]
    assert set(candidates) == set(scored) and len(scored) >= 3
    if derive_by == "accuracy":
        pick = max(scored, key=lambda a: scored[a][0])
        assert [r["val_acc"] for r in derive["ranking"]] == sorted(
            (s[0] for s in scored.values()), reverse=True
        )
    else:
        pick = min(scored, key=lambda a: scored[a][1])
        assert [r["val_loss"] for r in derive["ranking"]] == sorted(s[1] for s in scored.values())
    best = json.loads((tmp_path / "best.json").read_text())
    assert best["arch_str"] == pick == candidates[0], expected
    assert (best["val_acc"], best["val_loss"]) == scored[pick]


def test_a_derive_prior_ranks_by_the_mean_of_the_two_ranks(tmp_path, monkeypatch):
    # Losses rank the candidates a < b < c < d; the prior ranks them d > c > a > b.
    losses = iter([0.1, 0.2, 0.3, 0.4] * 3)
    scored: list[str] = []

    def made_up_score(self, arch):
        scored.append(format_arch(arch))
        return 0.5, next(losses)

    def made_up_prior(archs, proxy, batch_size, data, space_cfg, seed):
        assert (proxy, batch_size) == ("snip+params", 8)
        return [[0.5, 0.2, 0.6, 0.9][scored.index(format_arch(a)) % 4] for a in archs]

    monkeypatch.setattr(SharedEvaluator, "score_with_loss", made_up_score)
    monkeypatch.setattr(shared_weights, "proxy_rewards", made_up_prior)
    overrides = [
        "test_best=false",
        "evaluator.derive_samples=3",
        "evaluator.derive_prior=snip+params",
        "evaluator.derive_prior_batch_size=8",
    ]
    run_search(tmp_path, [*TINY_SHARED, *overrides])
    derive = json.loads((tmp_path / "derive.json").read_text())
    assert derive["derive_prior"] == "snip+params" and len(scored) == 4, scored
    # Mean ranks: a (1+3)/2=2, b (2+4)/2=3, c (3+2)/2=2.5, d (4+1)/2=2.5 → a, c, d, b (ties: by
    # loss).
    assert [r["arch_str"] for r in derive["ranking"]] == [scored[i] for i in (0, 2, 3, 1)]
    assert [r["mean_rank"] for r in derive["ranking"]] == [2.0, 2.5, 2.5, 3.0]
    assert [r["prior_reward"] for r in derive["ranking"]] == [0.5, 0.6, 0.9, 0.2]
    best = json.loads((tmp_path / "best.json").read_text())
    assert best["arch_str"] == scored[0]


@pytest.mark.parametrize("controller", ["random", "evolution"])
def test_the_baselines_search_with_shared_weights_too(tmp_path, controller):
    extra = (
        ["controller.population=4", "controller.sample_size=2"] if controller == "evolution" else []
    )
    summary, _ = run_search(
        tmp_path, [*TINY_SHARED, f"controller={controller}", "test_best=false", *extra]
    )
    assert summary["controller"] == controller and summary["children"] == 12
    assert (tmp_path / "derive.json").exists()


@pytest.mark.slow
def test_kill_9_then_resume_matches_a_search_never_stopped(tmp_path):
    args = [*TINY_SHARED, "evaluator.recipe.epochs=4", "test_best=false", "seed=3"]
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, str(SEARCH_SCRIPT), *args, f"hydra.run.dir={killed}"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 120
    while time.time() < deadline and not (killed / "checkpoint.pt").exists():
        time.sleep(0.01)
    time.sleep(0.3)  # into the second epoch
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (killed / "summary.json").exists()

    resumed = search_cli(f"resume={killed}", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    straight = tmp_path / "straight"
    assert search_cli(*args, f"hydra.run.dir={straight}", cwd=tmp_path).returncode == 0

    def comparable(run_dir):
        return [{k: v for k, v in r.items() if k != "seconds"} for r in rows(run_dir)]

    assert comparable(killed) == comparable(straight)
    assert len(comparable(killed)) == 4 * 2 * 3
    derived = [json.loads((d / "derive.json").read_text())["ranking"] for d in (killed, straight)]
    assert derived[0] == derived[1]


def test_a_target_reward_stops_after_the_update_that_reaches_it_and_is_kept_for_resume(tmp_path):
    # Every reward is >= 0, so the first controller update of epoch 1 reaches the target.
    run = tmp_path / "run"
    args = [*TINY_SHARED, "evaluator.recipe.epochs=4", "test_best=false"]
    summary, printed = run_search(run, [*args, "budget.target_reward=0.0"])
    assert len(rows(run)) == 3  # one update of budget.batch=3 children, then the stop
    assert summary["shared"]["epochs"] == 1
    assert summary["stopped"].startswith("target reached: child ")
    assert "in epoch 1 of 4" in summary["stopped"]
    assert "Stopped early: target reached" in printed
    assert (run / "derive.json").exists()  # the search still derives its best
    saved = torch.load(run / "checkpoint.pt", weights_only=False)["state"]
    assert saved["stopped"] == summary["stopped"]  # a resumed run stops there too
    _, again = run_search(tmp_path / "again", [f"resume={run}"])
    assert "already finished" in again
    # Without a target the same search runs all its epochs and says nothing of targets.
    full, _ = run_search(tmp_path / "full", args)
    assert full["shared"]["epochs"] == 4 and "target" not in (full["stopped"] or "")


# --- ways of training the supernet (issue 21) ----------------------------------------------


def _tiny_evaluator(**settings):
    from app.config import compose_config, typed_config
    from child.data.datasets import load_dataset

    overrides = [o for o in TINY_SHARED if not o.startswith("search_space.widths")]
    cfg = typed_config(compose_config([*overrides, "search_space.widths=[4,8]"]))
    for key, value in settings.items():
        setattr(cfg.evaluator, key, value)
    cfg.evaluator.check()
    data = load_dataset(cfg.dataset, cfg.seed)
    return SharedEvaluator(cfg.evaluator, data, cfg.search_space, cfg.seed), cfg


def test_fair_sampling_trains_every_op_of_every_layer_equally_often():
    import numpy as np

    evaluator, cfg = _tiny_evaluator(sampling="fair")
    space = evaluator.space
    trained = []
    forward = evaluator.net.forward
    evaluator.net.forward = lambda x, arch: (trained.append(arch), forward(x, arch))[1]
    rng = np.random.default_rng(0)
    steps = evaluator.begin_epoch(0)
    proposed = [space.sample(rng) for _ in range(steps)]
    for arch in proposed:
        evaluator.train_step(arch)
    m = len(space.ops)
    assert len(trained) == steps * m
    assert trained[::m] == proposed  # the proposed (controller's) path is always trained first
    for layer in range(cfg.search_space.num_layers):
        counts = {op: 0 for op in space.ops}
        for arch in trained:
            counts[arch.layers[layer].op] += 1
        assert set(counts.values()) == {steps}, (layer, counts)


def test_sandwich_sampling_adds_the_largest_and_smallest_widths():
    import numpy as np

    evaluator, _ = _tiny_evaluator(sampling="sandwich")
    arch = evaluator.space.sample(np.random.default_rng(3))
    paths = evaluator.training_paths(arch)
    assert paths[0] == arch
    assert [{layer.param("width") for layer in p.layers} for p in paths[1:]] == [{8}, {4}]
    assert [[layer.op for layer in p.layers] for p in paths[1:]] == [
        [la.op for la in arch.layers]
    ] * 2


def test_few_shot_sub_supernets_inherit_the_weights_then_diverge_only_on_their_own_sub_space():
    import numpy as np

    evaluator, _ = _tiny_evaluator(few_shot_split="layer0.op", few_shot_warmup=1)
    space, rng = evaluator.space, np.random.default_rng(0)
    for _ in range(evaluator.begin_epoch(0)):
        evaluator.train_step(space.sample(rng))
    assert not evaluator.subnets and not evaluator.is_split
    parent = {k: v.clone() for k, v in evaluator.net.state_dict().items()}
    evaluator.begin_epoch(1)
    conv3 = [a for a in (space.sample(rng) for _ in range(200)) if a.layers[0].op == "conv3"]
    other = [a for a in (space.sample(rng) for _ in range(200)) if a.layers[0].op == "sep3"]
    sub_a, _ = evaluator._net_for(conv3[0])
    sub_b, _ = evaluator._net_for(other[0])
    assert sub_a is not sub_b and sub_a is not evaluator.net
    for sub in (sub_a, sub_b):  # both start as copies of the whole supernet
        assert all(torch.equal(sub.state_dict()[k], v) for k, v in parent.items())
    for arch in conv3[:3]:
        evaluator.train_step(arch)
    changed = [k for k, v in parent.items() if not torch.equal(sub_a.state_dict()[k], v)]
    assert changed  # conv3's sub-supernet trained ...
    for net in (sub_b, evaluator.net):  # ... and nothing else moved
        assert all(torch.equal(net.state_dict()[k], v) for k, v in parent.items())
    assert set(evaluator.subnets) == {"conv3", "sep3"}
    # Scoring uses the architecture's own sub-supernet, and a checkpoint keeps them all.
    state = evaluator.state_dict()
    fresh, _ = _tiny_evaluator(few_shot_split="layer0.op", few_shot_warmup=1)
    fresh.load_state_dict(state)
    assert fresh.score(conv3[0]) == evaluator.score(conv3[0])
    assert all(
        torch.equal(fresh.subnets["conv3"][0].state_dict()[k], v)
        for k, v in sub_a.state_dict().items()
    )


def test_separate_width_weights_give_each_width_its_own_tensor():
    import numpy as np

    for mode, shares in (("slice", True), ("separate", False)):
        evaluator, _ = _tiny_evaluator(width_weights=mode)
        arch = evaluator.space.sample(np.random.default_rng(1))
        narrow, wide = (evaluator._at_width(arch, w) for w in (4, 8))
        layer_params = {id(p) for m in evaluator.net.layer_ops for p in m.parameters()}
        common = {id(p) for p in evaluator.net.path_parameters(narrow)} & {
            id(p) for p in evaluator.net.path_parameters(wide)
        }
        assert bool(common & layer_params) is shares, mode
        evaluator.begin_epoch(0)
        evaluator.train_step(arch)
        assert 0 <= evaluator.score(arch) <= 1


BAD_SHARED = [
    (["evaluator.sampling=greedy"], "evaluator.sampling"),
    (["evaluator.width_weights=mixed"], "evaluator.width_weights"),
    (["evaluator.few_shot_split=op0"], "evaluator.few_shot_split"),
    (["evaluator.few_shot_split=layer9.op", "evaluator.few_shot_warmup=1"], "few_shot_split"),
    (["evaluator.few_shot_split=layer0.colour", "evaluator.few_shot_warmup=1"], "few_shot_split"),
    (["evaluator.few_shot_split=layer0.op", "evaluator.few_shot_warmup=2"], "few_shot_warmup"),
    (["controller=darts", "evaluator.sampling=fair"], "controller=darts"),
    (["controller=darts", "evaluator.width_weights=separate"], "controller=darts"),
    (["search_space=nb201", "evaluator.width_weights=separate"], "evaluator.width_weights"),
    (["search_space=nb201", "evaluator.sampling=sandwich"], "evaluator.sampling"),
]


@pytest.mark.usefixtures("no_data")
@pytest.mark.parametrize(("overrides", "named"), BAD_SHARED)
def test_bad_training_settings_are_refused_in_one_line(tmp_path, overrides, named):
    from tests.helpers import run_script
    from tests.test_bad_input import assert_refused, tree

    bad = [o for o in TINY_SHARED if not o.startswith("search_space.")] + overrides
    if not any(o.startswith("search_space=") for o in overrides):
        bad += ["search_space.num_layers=3"]
    assert_refused(run_script("search.py", *bad, cwd=tmp_path), named)
    assert tree(tmp_path) == {}
