"""Rewards from recall and F1: the metrics against scikit-learn, imbalanced data, the search."""

import json

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, recall_score

from app.config import compose_config, typed_config
from child.data.datasets import load_dataset
from child.evaluation.metrics import confusion_matrix, metrics_from_confusion
from core.errors import ConfigError
from tests.helpers import TINY, run_search


@pytest.mark.parametrize("seed", range(4))
def test_the_metrics_agree_with_scikit_learn_on_fixed_predictions(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 6, 300)
    pred = np.where(rng.random(300) < 0.5, y, rng.integers(0, 6, 300))
    pred[pred == 5] = 4  # class 5 is never predicted: precision 0, F1 0
    got = metrics_from_confusion(confusion_matrix(torch.tensor(pred), torch.tensor(y), 6))
    assert got["accuracy"] == pytest.approx(accuracy_score(y, pred))
    assert got["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, pred))
    assert got["macro_recall"] == pytest.approx(recall_score(y, pred, average="macro"))
    expected_f1 = f1_score(y, pred, average="macro", zero_division=0)
    assert got["macro_f1"] == pytest.approx(expected_f1)


def test_a_class_predicted_but_absent_from_the_labels_counts_as_scikit_learn_counts_it():
    # Class 3 is predicted once and never true: scikit-learn's macro recall and macro F1 count
    # it (recall 0, F1 0); its balanced accuracy leaves it out.
    y = np.array([0, 0, 1, 1, 2, 2])
    pred = np.array([0, 3, 1, 1, 2, 3])
    got = metrics_from_confusion(confusion_matrix(torch.tensor(pred), torch.tensor(y), 5))
    assert got["macro_recall"] == pytest.approx(recall_score(y, pred, average="macro")) == 0.5
    expected_f1 = f1_score(y, pred, average="macro", zero_division=0)
    assert got["macro_f1"] == pytest.approx(expected_f1) == pytest.approx(7 / 12)
    assert got["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, pred))
    assert got["balanced_accuracy"] == pytest.approx(2 / 3)


def test_a_network_that_ignores_the_rare_class_scores_well_only_on_accuracy():
    y = torch.tensor([0] * 95 + [1] * 5)
    pred = torch.zeros(100, dtype=torch.long)  # always the common class
    got = metrics_from_confusion(confusion_matrix(pred, y, 2))
    assert got["accuracy"] == pytest.approx(0.95)
    assert got["balanced_accuracy"] == pytest.approx(0.5)
    assert got["macro_f1"] == pytest.approx(f1_score(y, pred, average="macro", zero_division=0))


def test_imbalance_thins_each_class_by_its_share_and_keeps_the_test_set():
    plain = load_dataset(typed_config(compose_config(["dataset=digits"])).dataset, 0)
    cfg = typed_config(compose_config(["dataset=digits", "dataset.imbalance=0.1"])).dataset
    thinned = load_dataset(cfg, 0)
    before = torch.bincount(plain.train_y, minlength=10)
    after = torch.bincount(thinned.train_y, minlength=10)
    for k in range(10):
        assert after[k] == max(1, round(before[k].item() * 0.1 ** (k / 9)))
    assert torch.equal(thinned.test_y, plain.test_y)
    assert after[9] < after[0] / 8
    assert torch.equal(load_dataset(cfg, 0).train_y, thinned.train_y)  # the same per seed
    assert "imbalanced 0.1" in thinned.describe()


@pytest.mark.parametrize("reward", ["val_acc", "zoph"])
def test_a_search_can_reward_macro_f1_and_records_every_metric(tmp_path, reward):
    overrides = [*TINY, f"reward={reward}", "reward.metric=macro_f1", "dataset.imbalance=0.2"]
    run_search(tmp_path, [*overrides, "test_best=false"])
    lines = [json.loads(line) for line in (tmp_path / "children.jsonl").read_text().splitlines()]
    for record in lines:
        metrics = record["val_metrics"]
        assert set(metrics) == {"accuracy", "balanced_accuracy", "macro_recall", "macro_f1"}
        assert record["val_acc"] == metrics["accuracy"]
        if reward == "val_acc":
            assert record["reward"] == pytest.approx(metrics["macro_f1"])
        else:  # zoph: the best of the last epochs' F1, cubed (one epoch here)
            assert record["reward"] == pytest.approx(metrics["macro_f1"] ** 3)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["reward.metric=recall"], "reward.metric='recall' is invalid"),
        (
            ["search_space=nb201", "evaluator=table", "reward.metric=macro_f1"],
            "reward.metric='macro_f1' is invalid with evaluator=table",
        ),
        (["dataset=digits", "dataset.imbalance=0"], "dataset.imbalance=0"),
    ],
)
def test_metrics_and_imbalance_that_cannot_work_are_refused(tmp_path, overrides, message):
    with pytest.raises(ConfigError, match=message):
        run_search(tmp_path / "run", overrides)
