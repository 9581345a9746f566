"""The macro space's weight-sharing supernet (ENAS, Pham et al. 2018): every child is a path.

`MacroSupernet` holds one set of weights per (layer, op) at the largest width; a child of
smaller widths runs on the leading slices (`weight[:c_out, :c_in]`, `[:c]` of depthwise and
BatchNorm parameters) through `torch.nn.functional`. The parameter-free ops (pools, identity)
own their 1×1 width projection too (one per layer and op), so no two ops of a layer share a
weight: training one op's path never changes another op's output. With
`width_weights="separate"` each (layer, op) holds one set of weights per output width instead of
slicing one (Yu et al. 2020's alternative to channel slices; the classifier too); only the input
channels are still sliced. A child's forward pass touches only its own ops' weights, which
`path_parameters(arch)` lists, so the others get no gradient. Its BatchNorms normalise with the
current batch's statistics (`child.spaces.shared_weights`) and keep one learnable affine weight
and bias per (layer, op), as the convs.

DARTS (Liu et al. 2019) runs every path at once: `forward_mixed(x, weights)` takes one weight
vector per decision of the space (softmax weights over a layer's ops and widths, sigmoid weights
per skip anchor) and mixes the outputs of the same shared weights that `forward(x, arch)` uses.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from child.spaces.macro.network import match_size
from child.spaces.shared_weights import input_dims
from core.architecture import Architecture

_PARAM_FREE_MACRO_OPS = ("maxpool3", "avgpool3", "identity")
_BN_EPS = 1e-5  # nn.BatchNorm's default, so a path matches a stand-alone child's arithmetic


def _conv(x: torch.Tensor, weight: torch.Tensor, groups: int = 1) -> torch.Tensor:
    conv = F.conv1d if x.dim() == 3 else F.conv2d
    return conv(x, weight, padding=weight.shape[-1] // 2, groups=groups)


def _batch_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    # training=True without running buffers: batch statistics in train and eval (shared_weights).
    return F.batch_norm(x, None, None, weight, bias, training=True, eps=_BN_EPS)


def _conv_weight(c_out: int, c_in: int, kernel: int, dims: int) -> nn.Parameter:
    weight = nn.Parameter(torch.empty(c_out, c_in, *([kernel] * dims)))
    nn.init.kaiming_uniform_(weight, a=math.sqrt(5))  # nn.Conv's default initialisation
    return weight


class _SlicedBatchNorm(nn.Module):
    """BatchNorm's learned scale and shift at max width, run on leading channel slices."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`x` normalised with its own batch statistics."""
        c = x.shape[1]
        return _batch_norm(x, self.weight[:c], self.bias[:c])


class _SlicedConvBNReLU(nn.Module):
    """Conv (same padding, no bias) → BN → ReLU at max widths, run on leading channel slices."""

    def __init__(self, c_in: int, c_out: int, kernel: int, dims: int) -> None:
        super().__init__()
        self.weight = _conv_weight(c_out, c_in, kernel, dims)
        self.bn_weight = nn.Parameter(torch.ones(c_out))
        self.bn_bias = nn.Parameter(torch.zeros(c_out))

    def forward(self, x: torch.Tensor, c_out: int) -> torch.Tensor:
        """`c_out` channels from the `x.shape[1]` channels of `x`."""
        y = _conv(x, self.weight[:c_out, : x.shape[1]])
        return F.relu(_batch_norm(y, self.bn_weight[:c_out], self.bn_bias[:c_out]))


class _SlicedSepConv(nn.Module):
    """Depthwise k×k → pointwise 1×1 → BN → ReLU at max widths, run on leading channel slices."""

    def __init__(self, c_in: int, c_out: int, kernel: int, dims: int) -> None:
        super().__init__()
        self.depthwise = _conv_weight(c_in, 1, kernel, dims)
        self.pointwise = _conv_weight(c_out, c_in, 1, dims)
        self.bn_weight = nn.Parameter(torch.ones(c_out))
        self.bn_bias = nn.Parameter(torch.zeros(c_out))

    def forward(self, x: torch.Tensor, c_out: int) -> torch.Tensor:
        """`c_out` channels from the `x.shape[1]` channels of `x`."""
        c_in = x.shape[1]
        y = _conv(x, self.depthwise[:c_in], groups=c_in)
        y = _conv(y, self.pointwise[:c_out, :c_in])
        return F.relu(_batch_norm(y, self.bn_weight[:c_out], self.bn_bias[:c_out]))


class _ParamFreeOp(nn.Module):
    """A pool or identity, with its own 1×1 projection for when the width changes (as MacroNet)."""

    def __init__(self, op: str, c_in: int, c_out: int, dims: int) -> None:
        super().__init__()
        self.op = op
        self.dims = dims
        self.projection = _SlicedConvBNReLU(c_in, c_out, 1, dims)

    def forward(self, x: torch.Tensor, c_out: int) -> torch.Tensor:
        """`c_out` channels from `x`: pooled (or not), projected only if the width changes."""
        if self.op == "maxpool3":
            x = (F.max_pool1d if self.dims == 1 else F.max_pool2d)(x, 3, stride=1, padding=1)
        elif self.op == "avgpool3":
            pool = F.avg_pool1d if self.dims == 1 else F.avg_pool2d
            x = pool(x, 3, stride=1, padding=1, count_include_pad=False)
        return x if x.shape[1] == c_out else self.projection(x, c_out)


def _macro_op(op: str, c_in: int, c_out: int, dims: int) -> nn.Module:
    """The shared weights of macro op `op` (for a pool or identity: its width projection)."""
    if op.startswith("conv"):
        return _SlicedConvBNReLU(c_in, c_out, int(op[4:]), dims)
    if op.startswith("sep"):
        return _SlicedSepConv(c_in, c_out, int(op[3:]), dims)
    assert op in _PARAM_FREE_MACRO_OPS, op
    return _ParamFreeOp(op, c_in, c_out, dims)


WIDTH_WEIGHTS = ("slice", "separate")  # how the widths of one (layer, op) share weights


class MacroSupernet(nn.Module):
    """The macro space as one network: shared, width-sliced weights per (layer, op)."""

    def __init__(
        self,
        input_shape: tuple[int, ...],
        num_classes: int,
        *,
        name: str,
        num_layers: int,
        ops: Sequence[str],
        widths: Sequence[int],
        skips: bool,
        stem_width: int,
        pool_after: Sequence[int],
        sum_norm: bool,
        width_weights: str = "slice",
    ) -> None:
        """The supernet of the space `name` with these decisions and network settings.

        They are the space's config's, which the space has checked (`build_macro_supernet`).
        `width_weights`: "slice" (one tensor per (layer, op), narrower widths use its leading
        channels) or "separate" (one per (layer, op, width)).
        """
        if width_weights not in WIDTH_WEIGHTS:
            raise ValueError(f"width_weights must be one of {WIDTH_WEIGHTS}, not {width_weights!r}")
        super().__init__()
        self.name = name
        self.num_layers = num_layers
        self.ops = tuple(ops)
        self.widths = tuple(widths)
        self.skips = skips
        self.dims = input_dims(tuple(input_shape))
        self.pool_after = frozenset(pool_after)
        self.stem_width = stem_width
        self.max_width = max(self.widths)
        self.width_weights = width_weights
        self.stem = _SlicedConvBNReLU(input_shape[0], stem_width, 3, self.dims)
        self.layer_ops = nn.ModuleList()
        self.skip_projections = nn.ModuleList()
        for i in range(num_layers):
            # Layer 0 always reads the stem, so its weights need only stem_width input channels.
            c_in = stem_width if i == 0 else self.max_width
            self.layer_ops.append(
                nn.ModuleDict(
                    {
                        self._key(op, width): _macro_op(op, c_in, width, self.dims)
                        for op in self.ops
                        for width in self._own_widths()
                    }
                )
            )
            self.skip_projections.append(
                nn.ModuleList(
                    _SlicedConvBNReLU(self.max_width, self.max_width, 1, self.dims)
                    for _ in range(i if skips else 0)
                )
            )
        # As MacroNet with sum_norm: BatchNorm (batch statistics) after a layer's skip sum.
        self.sum_norm = sum_norm
        self.sum_norms = nn.ModuleList(
            _SlicedBatchNorm(self.max_width) for _ in range(num_layers if sum_norm else 0)
        )
        self.classifier = nn.Linear(self.max_width, num_classes)
        # With separate widths, one classifier per width the last layer can have.
        self.width_classifiers = nn.ModuleDict(
            {str(w): nn.Linear(w, num_classes) for w in self.widths if width_weights == "separate"}
        )

    def _own_widths(self) -> tuple[int, ...]:
        """The output widths that own a set of weights: all of them, or the largest one."""
        return self.widths if self.width_weights == "separate" else (self.max_width,)

    def _key(self, op: str, c_out: int) -> str:
        """The `layer_ops` key of `op` at output width `c_out`."""
        return f"{op}_w{c_out}" if self.width_weights == "separate" else op

    def _op_module(self, i: int, op: str, c_out: int) -> nn.Module:
        """Layer `i`'s weights of `op` for output width `c_out`."""
        return self.layer_ops[i][self._key(op, c_out)]

    def _classifier(self, c_last: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The classifier's weight and bias for a last layer of width `c_last`."""
        if self.width_weights == "separate":
            head = self.width_classifiers[str(c_last)]
            return head.weight, head.bias
        return self.classifier.weight[:, :c_last], self.classifier.bias

    def _plan(self, arch: Architecture) -> list[tuple[str, int, int, tuple[int, ...]]]:
        """(op, c_in, c_out, skip inputs) per layer; raises ValueError if `arch` is not ours."""
        if arch.space != self.name or len(arch.layers) != self.num_layers:
            raise ValueError(
                f"{arch} is not a {self.num_layers}-layer {self.name} architecture "
                f"for this supernet"
            )
        plan, c_in = [], self.stem_width
        for i, layer in enumerate(arch.layers):
            if layer.op not in self.ops:
                raise ValueError(
                    f"layer {i} op {layer.op!r} is not among the supernet's ops "
                    f"({', '.join(self.ops)})"
                )
            width = layer.param("width")
            if width not in self.widths:
                raise ValueError(
                    f"layer {i} width {width!r} is not among the supernet's widths "
                    f"{list(self.widths)}"
                )
            if any(not 0 <= j < i for j in layer.inputs) or (layer.inputs and not self.skips):
                raise ValueError(f"layer {i} ({layer}) has skip inputs this supernet cannot make")
            plan.append((layer.op, c_in, int(width), layer.inputs))
            c_in = int(width)
        return plan

    def _layer_op(self, i: int, op: str, x: torch.Tensor, c_out: int) -> torch.Tensor:
        return self._op_module(i, op, c_out)(x, c_out)

    def forward(self, x: torch.Tensor, arch: Architecture) -> torch.Tensor:
        """Logits (N, num_classes) of child `arch`, using only its path's weights."""
        plan = self._plan(arch)
        x = self.stem(x, self.stem_width)
        outputs: list[torch.Tensor] = []
        for i, (op, _, c_out, inputs) in enumerate(plan):
            y = self._layer_op(i, op, x, c_out)
            for j in inputs:
                skip = match_size(outputs[j], j, i, self.pool_after)
                if plan[j][2] != c_out:
                    skip = self.skip_projections[i][j](skip, c_out)
                y = y + skip
            if self.sum_norm and inputs:
                y = self.sum_norms[i](y)
            if i in self.pool_after:
                y = (F.max_pool1d if self.dims == 1 else F.max_pool2d)(y, 2, ceil_mode=True)
            outputs.append(y)
            x = y
        weight, bias = self._classifier(plan[-1][2])
        return F.linear(x.flatten(2).mean(dim=2), weight, bias)

    def path_parameters(self, arch: Architecture) -> list[nn.Parameter]:
        """Exactly the (whole, unsliced) parameters that `forward(x, arch)` uses."""
        plan = self._plan(arch)
        modules: list[nn.Module] = [self.stem]
        for i, (op, c_in, c_out, inputs) in enumerate(plan):
            # Pools and identity use their weights (a projection) only when the width changes.
            if op not in _PARAM_FREE_MACRO_OPS or c_in != c_out:
                modules.append(self._op_module(i, op, c_out))
            modules.extend(self.skip_projections[i][j] for j in inputs if plan[j][2] != c_out)
            if self.sum_norm and inputs:
                modules.append(self.sum_norms[i])
        params = [p for m in modules for p in m.parameters()]
        return [*params, *self._classifier_parameters(plan[-1][2])]

    def _classifier_parameters(self, c_last: int) -> list[nn.Parameter]:
        if self.width_weights == "separate":
            return list(self.width_classifiers[str(c_last)].parameters())
        return list(self.classifier.parameters())

    def forward_mixed(self, x: torch.Tensor, weights: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Logits of DARTS's continuous relaxation: every op, width and skip, weighted.

        `weights` holds, per layer i, `layer{i}.op` (one weight per op, summing to 1),
        `layer{i}.width` (one per width) and `layer{i}.skips` (one per earlier layer, each in
        [0, 1]). Every layer runs at the largest width; a width mixes in as a soft mask on the
        leading channels (channel c is kept with the summed weight of the widths above c), which
        is exact for a one-hot width because a sliced conv's first c outputs are the full conv's.
        Unlike `forward(x, arch)`, pools, identity and skips are never width-projected here (every
        mixed output already has the largest width), and a layer with possible skips always gets
        its `sum_norm`: the relaxation approximates a narrow child, it does not reproduce it.
        """
        if self.width_weights != "slice":
            raise ValueError(
                "DARTS's relaxation mixes widths as channel masks, so it needs sliced widths "
                "(evaluator.width_weights=slice)"
            )
        x = self.stem(x, self.stem_width)
        outputs: list[torch.Tensor] = []
        channel = torch.arange(self.max_width, device=x.device)
        for i in range(self.num_layers):
            mix = weights[f"layer{i}.op"]
            y = sum(
                w * self._layer_op(i, op, x, self.max_width)
                for w, op in zip(mix, self.ops, strict=True)
            )
            assert isinstance(y, torch.Tensor)
            if i > 0 and self.skips:
                gates = weights[f"layer{i}.skips"]
                for j in range(i):
                    y = y + gates[j] * match_size(outputs[j], j, i, self.pool_after)
                if self.sum_norm:
                    y = self.sum_norms[i](y)
            if len(self.widths) > 1:
                keep = torch.stack([(channel < w).to(y.dtype) for w in self.widths])
                mask = weights[f"layer{i}.width"] @ keep  # (max_width,)
                y = y * mask.view(1, -1, *([1] * self.dims))
            if i in self.pool_after:
                y = (F.max_pool1d if self.dims == 1 else F.max_pool2d)(y, 2, ceil_mode=True)
            outputs.append(y)
            x = y
        return self.classifier(x.flatten(2).mean(dim=2))
