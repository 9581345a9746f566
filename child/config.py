"""Typed configs of the child half: data sets, search spaces, the training recipe and rewards.

These dataclasses are the Hydra schemas (registered in `app.config`) and also the
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
    precision: str = "fp32"
    compile: bool = False


@dataclass
class RewardConfig:
    """How a trained child's validation accuracies become the controller's reward.

    - `val_acc`: the validation accuracy after the last epoch;
    - `zoph`: the max validation accuracy over the last `window` epochs, to the power `power`;
    - `cost`: MnasNet's `acc × (cost / target) ** w`, with `w = alpha` at or under the target
      and `w = beta` over it; the cost is the parameter count (`cost_metric: params`, target
      `target_params`) or the latency of one example's forward pass on the training device
      (`cost_metric: latency`, target `target_latency_ms`).
    """

    name: str = "val_acc"
    window: int = 1
    power: float = 1.0
    cost_metric: str = "params"
    target_params: int = 5000
    target_latency_ms: float = 1.0
    alpha: float = 0.0
    beta: float = -0.07


@dataclass
class LayersSpaceConfig:
    """The conditional layer-type space: per layer a type, then only that type's parameters."""

    name: str = "layers"
    num_layers: int = 6
    types: list[str] = field(default_factory=lambda: ["conv", "pool", "fc", "dropout"])
    conv_kernels: list[int] = field(default_factory=lambda: [3, 5])
    conv_strides: list[int] = field(default_factory=lambda: [1, 2])
    conv_filters: list[int] = field(default_factory=lambda: [16, 32, 64])
    pool_sizes: list[int] = field(default_factory=lambda: [2, 3])
    pool_strides: list[int] = field(default_factory=lambda: [1, 2])
    fc_units: list[int] = field(default_factory=lambda: [64, 128, 256, 512])
    activations: list[str] = field(default_factory=lambda: ["relu", "sigmoid", "tanh"])
    dropout_rates: list[float] = field(default_factory=lambda: [0.2, 0.3, 0.5])


@dataclass
class Cifar10Config:
    """CIFAR-10 read from its binary or python version on disk (50,000 train / 10,000 test)."""

    name: str = "cifar10"
    path: str = "data/cifar10"
    val_fraction: float = 0.1
    limit: int | None = None


@dataclass
class FashionMnistConfig:
    """Fashion-MNIST read from its IDX files on disk (60,000 train / 10,000 test)."""

    name: str = "fashion_mnist"
    path: str = "data/fashion_mnist"
    val_fraction: float = 0.1
    limit: int | None = None


@dataclass
class MnistConfig:
    """MNIST read from its IDX files on disk (60,000 train / 10,000 test)."""

    name: str = "mnist"
    path: str = "data/mnist"
    val_fraction: float = 0.1
    limit: int | None = None


@dataclass
class NB201SpaceConfig:
    """The NAS-Bench-201 cell space (one op per edge) and the size of its network."""

    name: str = "nb201"
    ops: list[str] = field(
        default_factory=lambda: [
            "none",
            "skip_connect",
            "nor_conv_1x1",
            "nor_conv_3x3",
            "avg_pool_3x3",
        ]
    )
    channels: int = 16
    cells_per_stage: int = 5


@dataclass
class LocalEvaluatorConfig:
    """Train children one after another in the search process."""

    name: str = "local"


@dataclass
class RayEvaluatorConfig:
    """Train each step's children concurrently as Ray tasks (locally or on a cluster)."""

    name: str = "ray"
    address: str | None = None
    num_cpus: int | None = None
    cpus_per_child: float = 1.0
    gpus_per_child: float = 0.0
    max_retries: int = 2


@dataclass
class TableEvaluatorConfig:
    """Look rewards up in a CSV table (`child.table`); `path` None is the bundled NB201 table."""

    name: str = "table"
    path: str | None = None
    arch_column: str = "arch"
    value_column: str = "cifar10_test_acc_200ep"
    scale: float = 0.01


@dataclass
class SyntheticConfig:
    """Made-up data of any shape with a learnable signal: for benchmarks and smoke tests only.

    Each class has a fixed smooth random template (a coarse random grid, interpolated to
    `shape`); an example is its class's template plus Gaussian noise of std `noise`. Accuracy
    on it says a child learns, not how good it would be on real data.
    """

    name: str = "synthetic"
    shape: list[int] = field(default_factory=lambda: [3, 32, 32])
    classes: int = 10
    train: int = 10000
    test: int = 2000
    noise: float = 2.0
    val_fraction: float = 0.1
    data_seed: int = 0
