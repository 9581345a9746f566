"""Classification metrics from a confusion matrix: what a child's reward can be computed from.

Accuracy hides a network that ignores a rare class; balanced accuracy (the mean recall over
classes, which is also the macro recall) and macro F1 do not. All are computed from one
confusion matrix of the validation split, so a child is scored once for every metric.
"""

from __future__ import annotations

import torch

METRICS = ("accuracy", "balanced_accuracy", "macro_recall", "macro_f1")


def confusion_matrix(pred: torch.Tensor, target: torch.Tensor, classes: int) -> torch.Tensor:
    """`classes` × `classes` counts: row = true class, column = predicted class."""
    index = target.long() * classes + pred.long()
    return torch.bincount(index, minlength=classes * classes).reshape(classes, classes)


def metrics_from_confusion(confusion: torch.Tensor) -> dict[str, float]:
    """Every metric of `METRICS` from a confusion matrix.

    Classes absent from the split are left out of the macro averages (as scikit-learn does for
    recall when `labels` is not given); a class never predicted has precision 0.
    """
    counts = confusion.double()
    total = counts.sum()
    true_positive = counts.diagonal()
    support = counts.sum(dim=1)
    predicted = counts.sum(dim=0)
    present = support > 0
    recall = true_positive[present] / support[present]
    precision = torch.where(predicted > 0, true_positive / predicted.clamp(min=1), 0.0)[present]
    f1 = torch.where(
        precision + recall > 0, 2 * precision * recall / (precision + recall).clamp(min=1e-12), 0.0
    )
    balanced = recall.mean().item() if len(recall) else 0.0
    return {
        "accuracy": (true_positive.sum() / total).item() if total > 0 else 0.0,
        "balanced_accuracy": balanced,
        "macro_recall": balanced,
        "macro_f1": f1.mean().item() if len(f1) else 0.0,
    }
