"""Typed configs of the child half: data sets, search spaces, the training recipe and rewards.

These dataclasses are the Hydra schemas (registered in `controller.config`) and also the
objects the code runs on: `OmegaConf.to_object` turns a validated config into instances.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Mnist1dConfig:
    """MNIST-1D, generated offline by the `mnist1d` package (4,000 train / 1,000 test)."""

    name: str = "mnist1d"
    val_fraction: float = 0.2


@dataclass
class DigitsConfig:
    """scikit-learn's 8×8 digits (1,797 images), with a fixed held-out test split."""

    name: str = "digits"
    val_fraction: float = 0.2
    test_fraction: float = 0.2
    split_seed: int = 0


@dataclass
class MacroSpaceConfig:
    """The macro CNN space: per layer an op, a width and skip connections."""

    name: str = "macro"
    num_layers: int = 4
    ops: list[str] = field(
        default_factory=lambda: [
            "conv3",
            "conv5",
            "conv7",
            "sep3",
            "sep5",
            "maxpool3",
            "avgpool3",
            "identity",
        ]
    )
    widths: list[int] = field(default_factory=lambda: [16, 32, 64])
    skips: bool = True
    stem_width: int = 16
    pool_after: list[int] = field(default_factory=list)


@dataclass
class ChildConfig:
    """The recipe every child is trained with (`conf/child/*.yaml`)."""

    epochs: int = 5
    batch_size: int = 128
    optimizer: str = "sgd"
    lr: float = 0.05
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    schedule: str = "cosine"
    warmup_epochs: int = 0
    label_smoothing: float = 0.0
    grad_clip: float = 5.0
    augment: bool = False
    eval_batch_size: int = 1024
    device: str = "auto"
    threads: int = 0


@dataclass
class RewardConfig:
    """How a trained child's validation accuracies become the controller's reward.

    - `val_acc`: the validation accuracy after the last epoch;
    - `zoph`: the max validation accuracy over the last `window` epochs, to the power `power`;
    - `cost`: MnasNet's `acc × (params / target_params) ** w`, with `w = alpha` at or under
      the target and `w = beta` over it.
    """

    name: str = "val_acc"
    window: int = 1
    power: float = 1.0
    target_params: int = 5000
    alpha: float = 0.0
    beta: float = -0.07
