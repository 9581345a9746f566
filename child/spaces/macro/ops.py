"""The macro space's candidate ops, each built for 1-D (N, C, L) or 2-D (N, C, H, W) inputs.

Every op maps `c_in` channels to `c_out` channels and keeps the spatial size (stride 1, same
padding). Convs are Conv → BatchNorm → ReLU. Ops that cannot change the channel count (pools,
identity) get a 1×1 Conv → BN → ReLU projection when the layer's width differs from its input.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

OpFactory = Callable[[int, int, int], nn.Module]


def _conv_cls(dims: int) -> type[nn.Module]:
    return {1: nn.Conv1d, 2: nn.Conv2d}[dims]


def _bn_cls(dims: int) -> type[nn.Module]:
    return {1: nn.BatchNorm1d, 2: nn.BatchNorm2d}[dims]


def conv_bn_relu(c_in: int, c_out: int, dims: int, kernel: int, stride: int = 1) -> nn.Sequential:
    """Conv (same padding, no bias) → BatchNorm → ReLU."""
    conv = _conv_cls(dims)(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False)
    return nn.Sequential(conv, _bn_cls(dims)(c_out), nn.ReLU(inplace=True))


def sep_conv(c_in: int, c_out: int, dims: int, kernel: int) -> nn.Sequential:
    """Depthwise-separable conv: depthwise k×k, pointwise 1×1, then BatchNorm → ReLU."""
    conv = _conv_cls(dims)
    return nn.Sequential(
        conv(c_in, c_in, kernel, padding=kernel // 2, groups=c_in, bias=False),
        conv(c_in, c_out, 1, bias=False),
        _bn_cls(dims)(c_out),
        nn.ReLU(inplace=True),
    )


def projection(c_in: int, c_out: int, dims: int) -> nn.Module:
    """Identity when the channel counts match, else a 1×1 Conv → BN → ReLU."""
    return nn.Identity() if c_in == c_out else conv_bn_relu(c_in, c_out, dims, kernel=1)


def pool(kind: str, c_in: int, c_out: int, dims: int) -> nn.Sequential:
    """A 3-wide max or average pool (stride 1, same size), projected to `c_out` channels."""
    pools = {
        ("max", 1): nn.MaxPool1d,
        ("max", 2): nn.MaxPool2d,
        ("avg", 1): nn.AvgPool1d,
        ("avg", 2): nn.AvgPool2d,
    }
    options = {"count_include_pad": False} if kind == "avg" else {}
    return nn.Sequential(
        pools[kind, dims](3, stride=1, padding=1, **options), projection(c_in, c_out, dims)
    )


OPS: dict[str, OpFactory] = {
    "conv3": lambda c_in, c_out, dims: conv_bn_relu(c_in, c_out, dims, 3),
    "conv5": lambda c_in, c_out, dims: conv_bn_relu(c_in, c_out, dims, 5),
    "conv7": lambda c_in, c_out, dims: conv_bn_relu(c_in, c_out, dims, 7),
    "sep3": lambda c_in, c_out, dims: sep_conv(c_in, c_out, dims, 3),
    "sep5": lambda c_in, c_out, dims: sep_conv(c_in, c_out, dims, 5),
    "maxpool3": lambda c_in, c_out, dims: pool("max", c_in, c_out, dims),
    "avgpool3": lambda c_in, c_out, dims: pool("avg", c_in, c_out, dims),
    "identity": projection,
}


def make_op(name: str, c_in: int, c_out: int, dims: int) -> nn.Module:
    """Build op `name` for `dims`-D inputs; raises KeyError listing the known ops."""
    if name not in OPS:
        raise KeyError(f"unknown op {name!r}: expected one of {', '.join(OPS)}")
    if dims not in (1, 2):
        raise ValueError(f"ops support 1-D and 2-D inputs, not {dims}-D")
    return OPS[name](c_in, c_out, dims)
