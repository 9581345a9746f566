"""top_k: the cheap score's top k trained alone, the best of them kept (app/finalists.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import app.finalists
from child.evaluation.evaluator import child_seed
from child.evaluation.result import ChildResult
from tests.helpers import run_script, run_search
from tests.test_bad_input import assert_refused
from tests.test_proxy import TINY_PROXY
from tests.test_shared_search import TINY_SHARED


def read(path: Path) -> dict:
    return json.loads(path.read_text())


def children(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "children.jsonl").read_text().splitlines()]


def fake_training(monkeypatch, accuracies: list[float]) -> list[dict]:
    """Make finalist i score accuracies[i] alone (test accuracy 1 - it, when asked for)."""
    calls: list[dict] = []

    def made_up(job, data, space_cfg, child_cfg, reward_cfg, evaluate_test=False):
        value = accuracies[len(calls)]
        calls.append(
            {"index": job.index, "seed": job.seed, "arch": job.arch, "test": evaluate_test}
        )
        return ChildResult(
            job.index,
            job.arch,
            value,
            value,
            1000,
            0.5,
            val_curve=(value,),
            test_acc=1 - value if evaluate_test else None,
        )

    monkeypatch.setattr(app.finalists, "evaluate_child", made_up)
    return calls


def test_top_k_over_a_proxy_trains_its_top_k_alone_and_keeps_the_best_of_them(
    tmp_path, monkeypatch
):
    calls = fake_training(monkeypatch, [0.50, 0.40, 0.70])
    summary, printed = run_search(tmp_path, [*TINY_PROXY, "top_k=3", "seed=4"])

    # The finalists are the three best distinct architectures by proxy reward, in that order.
    by_reward = sorted(children(tmp_path), key=lambda r: -r["reward"])
    distinct = list(dict.fromkeys(r["arch_str"] for r in by_reward))[:3]
    finalists = read(tmp_path / "finalists.json")
    assert [f["arch_str"] for f in finalists["finalists"]] == distinct
    assert [f["cheap_rank"] for f in finalists["finalists"]] == [1, 2, 3]
    cheap = {r["arch_str"]: r["reward"] for r in by_reward}
    assert [f["cheap_score"] for f in finalists["finalists"]] == [cheap[a] for a in distinct]
    # Each trained alone with its own child seed, past the search's children.
    assert [c["index"] for c in calls] == [7, 8, 9]
    assert [c["seed"] for c in calls] == [child_seed(4, i) for i in (7, 8, 9)]

    # Stand-alone training picks: the third of the cheap ranking, not the first.
    best = read(tmp_path / "best.json")
    assert finalists["picked"] == 3 and best["arch_str"] == distinct[2]
    assert best["val_acc"] == 0.70 and best["picked_by"] == "top_k=3"
    # Its test accuracy came with its training (no second training); the others' are not kept.
    assert summary["test_acc"] == best["test_acc"] == pytest.approx(0.30)
    assert all(f["test_acc"] is None for f in finalists["finalists"])
    assert len(calls) == 3
    assert summary["top_k"]["k"] == 3 and summary["top_k"]["picked_cheap_rank"] == 3
    assert "best architecture (top-3, trained alone)" in printed
    assert "0.7000" in printed and "(3 of 3)" in printed
    assert "finalist 3/3" in printed


def test_top_k_over_shared_weights_takes_derives_first_k(tmp_path, monkeypatch):
    calls = fake_training(monkeypatch, [0.60, 0.80])
    run_search(tmp_path, [*TINY_SHARED, "top_k=2", "test_best=false"])
    assert [c["test"] for c in calls] == [False, False]
    derive = read(tmp_path / "derive.json")["ranking"]
    finalists = read(tmp_path / "finalists.json")["finalists"]
    assert [f["arch_str"] for f in finalists] == [r["arch_str"] for r in derive[:2]]
    assert [f["cheap_score"] for f in finalists] == [r["val_loss"] for r in derive[:2]]
    best = read(tmp_path / "best.json")
    assert best["arch_str"] == derive[1]["arch_str"] and best["val_acc"] == 0.80
    assert best.get("test_acc") is None  # test_best=false: no test number anywhere


def test_a_real_search_with_a_prior_and_finalists_writes_what_it_chose(tmp_path):
    overrides = ["evaluator.derive_prior=snip", "top_k=2", "test_best=false"]
    run_search(tmp_path, [*TINY_SHARED, *overrides])
    derive = read(tmp_path / "derive.json")["ranking"]
    assert all(0 < r["prior_reward"] < 1 for r in derive)
    assert [r["mean_rank"] for r in derive] == sorted(r["mean_rank"] for r in derive)
    finalists = read(tmp_path / "finalists.json")
    assert [f["cheap_score"] for f in finalists["finalists"]] == [
        r["mean_rank"] for r in derive[:2]
    ]
    assert "mean rank with the proxy snip" in finalists["note"]


def test_a_real_finalist_is_trained_as_a_multi_trial_child_of_that_seed_would_be(tmp_path):
    summary, _ = run_search(tmp_path, [*TINY_PROXY, "child.epochs=1", "top_k=1"])
    best = read(tmp_path / "best.json")
    assert best["status"] == "ok" and best["seconds"] > 0
    assert 0 < best["val_acc"] <= 1 and best["val_curve"] == [best["val_acc"]]
    assert summary["test_acc"] == best["test_acc"] and 0 < best["test_acc"] <= 1


def test_a_search_killed_among_its_finalists_resumes_without_training_them_again(
    tmp_path, monkeypatch
):
    args = [*TINY_PROXY, "top_k=3", "seed=4"]
    whole = tmp_path / "whole"
    fake_training(monkeypatch, [0.50, 0.40, 0.70])
    run_search(whole, args)

    killed = tmp_path / "killed"
    calls = fake_training(monkeypatch, [0.50, 0.40])  # a third training "kills" the search
    with pytest.raises(IndexError):
        run_search(killed, args)
    assert len(calls) == 2 and not (killed / "finalists.json").exists()
    assert len(read(killed / "finalists.partial.json")) == 2

    calls = fake_training(monkeypatch, [0.70])
    summary, _ = run_search(killed, [f"resume={killed}"])
    assert [c["index"] for c in calls] == [9]  # only the third finalist trains again
    assert read(killed / "finalists.json") == read(whole / "finalists.json")
    assert read(killed / "best.json") == read(whole / "best.json")
    assert summary["test_acc"] == pytest.approx(0.30)
    assert not (killed / "finalists.partial.json").exists()


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        (["top_k=-1"], ["top_k", "-1"]),
        (["evaluator=local", "evaluator.workers=1", "top_k=3"], ["top_k=3", "evaluator=local"]),
        (["evaluator=shared", "controller=darts", "top_k=3"], ["top_k=3", "controller=darts"]),
        (
            ["evaluator=shared", "controller=darts", "evaluator.derive_prior=snip"],
            ["evaluator.derive_prior='snip'", "controller=darts"],
        ),
        (["evaluator=shared", "evaluator.derive_by=acc"], ["evaluator.derive_by", "acc"]),
        (["evaluator=shared", "evaluator.derive_prior=snap"], ["evaluator.derive_prior", "snap"]),
        (
            ["evaluator=shared", "evaluator.derive_prior_batch_size=1"],
            ["evaluator.derive_prior_batch_size"],
        ),
    ],
)
def test_bad_top_k_settings_are_refused_in_one_line(tmp_path, overrides, words):
    base = ["dataset=digits", "budget.children=2", "child.threads=1"]
    outcome = run_script("search.py", *base, *overrides, cwd=tmp_path)
    assert_refused(outcome, *words)
    assert not any(Path(tmp_path).rglob("children.jsonl"))
