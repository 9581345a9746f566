"""Classification metrics from a confusion matrix: what a child's reward can be computed from.

Accuracy hides a network that ignores a rare class; balanced accuracy (the mean recall over
classes), macro recall and macro F1 do not. All are computed from one confusion matrix of the
validation split, so a child is scored once for every metric, and each equals scikit-learn's.
"""

from __future__ import annotations

import torch

METRICS = ("accuracy", "balanced_accuracy", "macro_recall", "macro_f1")


def confusion_matrix(pred: torch.Tensor, target: torch.Tensor, classes: int) -> torch.Tensor:
    """`classes` × `classes` counts: row = true class, column = predicted class."""
    index = target.long() * classes + pred.long()
    return torch.bincount(index, minlength=classes * classes).reshape(classes, classes)


def metrics_from_confusion(confusion: torch.Tensor) -> dict[str, float]:
    """Every metric of `METRICS` from a confusion matrix, as scikit-learn computes it.

    The classes that count are scikit-learn's: balanced accuracy averages the recall of the
    classes present in the labels (`balanced_accuracy_score`); macro recall and macro F1
    average over the classes present in the labels *or* the predictions (`recall_score`,
    `f1_score` with average="macro" and zero_division=0), so a class predicted but absent from
    the labels adds a recall of 0 and an F1 of 0. Balanced accuracy and macro recall differ
    only then. A class never predicted has precision 0.
    """
    counts = confusion.double()
    total = counts.sum()
    true_positive = counts.diagonal()
    support = counts.sum(dim=1)
    predicted = counts.sum(dim=0)
    present = support > 0
    labelled = present | (predicted > 0)  # scikit-learn's unique_labels(y_true, y_pred)
    recall = torch.where(present, true_positive / support.clamp(min=1), 0.0)
    precision = torch.where(predicted > 0, true_positive / predicted.clamp(min=1), 0.0)
    f1 = torch.where(
        precision + recall > 0, 2 * precision * recall / (precision + recall).clamp(min=1e-12), 0.0
    )

    def mean(values: torch.Tensor, where: torch.Tensor) -> float:
        return values[where].mean().item() if where.any() else 0.0

    return {
        "accuracy": (true_positive.sum() / total).item() if total > 0 else 0.0,
        "balanced_accuracy": mean(recall, present),
        "macro_recall": mean(recall, labelled),
        "macro_f1": mean(f1, labelled),
    }
