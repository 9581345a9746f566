import numpy as np
import pytest
import torch

from child.evaluation.costs import count_params
from child.spaces import build_network
from child.spaces.macro.ops import OPS, make_op
from child.spaces.macro.space import MACRO_OPS, MacroSpace, MacroSpaceConfig
from core.architecture import Architecture, Layer


def test_every_space_op_has_an_implementation():
    assert set(MACRO_OPS) == set(OPS)


@pytest.mark.parametrize("dims", [1, 2])
@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize(("c_in", "c_out"), [(8, 8), (8, 16)])
def test_op_keeps_size_maps_channels_and_trains(name, dims, c_in, c_out):
    op = make_op(name, c_in, c_out, dims)
    x = torch.randn(4, c_in, *([9] * dims), requires_grad=True)
    y = op(x)
    assert y.shape == (4, c_out, *([9] * dims))
    y.square().mean().backward()
    assert torch.isfinite(y).all()
    assert x.grad is not None
    for p in op.parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all()


@pytest.mark.parametrize(
    ("input_shape", "pool_after"), [((1, 40), ()), ((3, 16, 16), (1,)), ((1, 8, 8), (0, 2))]
)
def test_random_macro_nets_run_forward_and_backward(input_shape, pool_after):
    space = MacroSpace(num_layers=4, ops=MACRO_OPS, widths=(8, 16))
    rng = np.random.default_rng(0)
    for _ in range(10):
        arch = space.sample(rng)
        settings = MacroSpaceConfig(stem_width=8, pool_after=pool_after)
        net = build_network(arch, input_shape, 10, settings)
        out = net(torch.randn(3, *input_shape))
        assert out.shape == (3, 10)
        out.logsumexp(1).mean().backward()
        assert all(p.grad is not None for p in net.parameters())


def test_param_count_grows_with_width_and_counts_skip_projections():
    def arch(width, inputs=()):
        return Architecture(
            "macro", (Layer("conv3", (("width", 16),)), Layer("conv3", (("width", width),), inputs))
        )

    small = count_params(build_network(arch(16), (1, 40), 10))
    wide = count_params(build_network(arch(64), (1, 40), 10))
    skip = count_params(build_network(arch(64, (0,)), (1, 40), 10))
    assert small < wide < skip
    # stem 1→16 conv3 (48) + BN (32); conv 16→16 (768) + BN (32); conv 16→16 again; head 16→10.
    assert small == (48 + 32) + (768 + 32) * 2 + (16 * 10 + 10)
