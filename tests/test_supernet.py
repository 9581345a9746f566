import inspect

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from child.evaluation.costs import count_params
from child.spaces import SPACES, build_network
from child.spaces.macro.space import MacroSpace, MacroSpaceConfig, build_macro_supernet
from child.spaces.nb201.space import (
    NB201_OPS,
    NB201Space,
    NB201SpaceConfig,
    build_nb201_supernet,
    make_arch,
)
from core.architecture import Architecture, Layer
from core.supernet import Supernet

# Tiny spaces: stem_width differs from every width so layer 0 can need a width projection.
MACRO_CFG = MacroSpaceConfig(num_layers=4, widths=[4, 8], stem_width=6, pool_after=[1, 2])
NB201_CFG = NB201SpaceConfig(channels=4, cells_per_stage=1)


def macro_arch(*layers: tuple[str, int, tuple[int, ...]]) -> Architecture:
    return Architecture(
        "macro", tuple(Layer(op, (("width", w),), inputs) for op, w, inputs in layers)
    )


# Every projection kind on one path: a pool widening the stem (6→8), skips that change width
# (8→4) and skips that do not (4→4, added raw), a sep conv, a conv and identity.
PROJECTED = macro_arch(
    ("maxpool3", 8, ()),
    ("conv3", 4, (0,)),
    ("identity", 4, (0, 1)),
    ("sep5", 8, (2,)),
)
MIXED_NB201 = make_arch(
    ["nor_conv_3x3", "avg_pool_3x3", "nor_conv_1x1", "skip_connect", "none", "nor_conv_3x3"]
)


def ids(params) -> set[int]:
    return {id(p) for p in params}


def test_macro_same_op_shares_the_tensor_and_different_ops_do_not():
    net = build_macro_supernet(MACRO_CFG, (1, 40), 10)
    # Layer 0 is conv3 in both (at different widths), layer 1 differs (conv5 vs sep3).
    a = macro_arch(("conv3", 4, ()), ("conv5", 8, ()), ("conv3", 8, ()), ("avgpool3", 8, ()))
    b = macro_arch(("conv3", 8, ()), ("sep3", 4, ()), ("conv3", 4, ()), ("avgpool3", 4, ()))
    path_a, path_b = net.path_parameters(a), net.path_parameters(b)
    shared = net.layer_ops[0]["conv3"].weight
    assert any(p is shared for p in path_a) and any(p is shared for p in path_b)
    used_a = {p.data_ptr() for p in path_a}
    assert shared.data_ptr() in used_a & {p.data_ptr() for p in path_b}
    layer1 = ids(net.layer_ops[1].parameters())
    assert ids(path_a) & layer1 and ids(path_b) & layer1
    assert not ids(path_a) & ids(path_b) & layer1
    # And the forward really reads the shared tensor: zeroing it changes b's output.
    x = torch.randn(3, 1, 40)
    before = net(x, b)
    with torch.no_grad():
        shared.zero_()
    assert not torch.equal(before, net(x, b))


def test_nb201_same_edge_op_shares_the_tensor_and_different_ops_do_not():
    net = build_nb201_supernet(NB201SpaceConfig(channels=4, cells_per_stage=2), (1, 16), 10)
    a = make_arch(["nor_conv_3x3", "nor_conv_1x1", "none", "none", "none", "none"])
    b = make_arch(["nor_conv_3x3", "nor_conv_3x3", "none", "none", "none", "none"])
    path_a, path_b = ids(net.path_parameters(a)), ids(net.path_parameters(b))
    for cell in (0, 1):
        edge0 = ids(net.stages[0][cell][0]["nor_conv_3x3"].parameters())
        assert edge0 <= path_a & path_b
        edge1_a = ids(net.stages[0][cell][1]["nor_conv_1x1"].parameters())
        edge1_b = ids(net.stages[0][cell][1]["nor_conv_3x3"].parameters())
        assert edge1_a <= path_a and edge1_b <= path_b and not edge1_a & edge1_b
        assert not edge1_a & path_b and not edge1_b & path_a
    # Each cell owns its edges: the same op in two cells is two tensors.
    assert net.stages[0][0][0]["nor_conv_3x3"] is not net.stages[0][1][0]["nor_conv_3x3"]


def _sgd_step_touches_only_the_path(net, arch: Architecture, x: torch.Tensor) -> None:
    path = ids(net.path_parameters(arch))
    named = dict(net.named_parameters())
    off_path = {n for n, p in named.items() if id(p) not in path}
    assert off_path, "the test is vacuous if the child uses every parameter"
    before = {n: p.detach().clone() for n, p in named.items()}
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    optimizer.zero_grad(set_to_none=True)
    F.cross_entropy(net(x, arch), torch.arange(len(x)) % 10).backward()
    optimizer.step()
    for name, p in named.items():
        if name in off_path:
            assert p.grad is None, name
            assert torch.equal(p, before[name]), name
        else:  # path_parameters lists nothing the forward leaves untouched
            assert p.grad is not None, name
    assert any(not torch.equal(named[n], before[n]) for n in named if n not in off_path)


@pytest.mark.parametrize("input_shape", [(1, 40), (1, 8, 8)])
def test_macro_sgd_step_changes_only_the_childs_path(input_shape):
    torch.manual_seed(0)
    net = build_macro_supernet(MACRO_CFG, input_shape, 10)
    sampled = MacroSpace.from_config(MACRO_CFG).sample(np.random.default_rng(1))
    for arch in (PROJECTED, sampled):
        _sgd_step_touches_only_the_path(net, arch, torch.randn(4, *input_shape))


@pytest.mark.parametrize("input_shape", [(3, 8, 8), (1, 16)])
def test_nb201_sgd_step_changes_only_the_childs_path(input_shape):
    torch.manual_seed(0)
    net = build_nb201_supernet(NB201_CFG, input_shape, 10)
    _sgd_step_touches_only_the_path(net, MIXED_NB201, torch.randn(4, *input_shape))


@pytest.mark.parametrize("input_shape", [(1, 40), (1, 8, 8)])
def test_macro_random_children_give_finite_logits(input_shape):
    torch.manual_seed(0)
    net = build_macro_supernet(MACRO_CFG, input_shape, 10)
    rng = np.random.default_rng(0)
    archs = [PROJECTED] + [MacroSpace.from_config(MACRO_CFG).sample(rng) for _ in range(8)]
    widths = [[layer.param("width") for layer in a.layers] for a in archs[1:]]
    # The samples themselves must cover width changes and skips, not just PROJECTED.
    assert any(w[k] != w[k + 1] for w in widths for k in range(len(w) - 1))
    assert any(layer.inputs for a in archs[1:] for layer in a.layers)
    x = torch.randn(2, *input_shape)
    for arch in archs:
        out = net(x, arch)
        assert out.shape == (2, 10)
        assert torch.isfinite(out).all()


@pytest.mark.parametrize("input_shape", [(3, 8, 8), (1, 16)])
def test_nb201_children_give_finite_logits_even_all_none(input_shape):
    torch.manual_seed(0)
    net = build_nb201_supernet(NB201_CFG, input_shape, 10)
    space = NB201Space.from_config(NB201_CFG)
    rng = np.random.default_rng(0)
    archs = [make_arch(["none"] * 6), MIXED_NB201] + [space.sample(rng) for _ in range(4)]
    x = torch.randn(2, *input_shape)
    for arch in archs:
        out = net(x, arch)
        assert out.shape == (2, 10)
        assert torch.isfinite(out).all()


def test_batch_norm_uses_batch_statistics_in_eval_too():
    torch.manual_seed(0)
    macro = build_macro_supernet(MACRO_CFG, (1, 40), 10)
    nb201 = build_nb201_supernet(NB201_CFG, (1, 16), 10)
    for net, arch, x in (
        (macro, PROJECTED, torch.randn(3, 1, 40)),
        (nb201, MIXED_NB201, torch.randn(3, 1, 16)),
    ):
        assert list(net.buffers()) == []  # no running statistics to mix between paths
        train_out = net.train()(x, arch)
        assert torch.equal(train_out, net.eval()(x, arch))


def _all_max_width_archs() -> list[Architecture]:
    rng = np.random.default_rng(2)
    space = MacroSpace(num_layers=4, ops=tuple(MACRO_CFG.ops), widths=(8,))
    return [space.sample(rng) for _ in range(6)] + [
        macro_arch(
            ("identity", 8, ()), ("sep3", 8, (0,)), ("avgpool3", 8, (0, 1)), ("conv7", 8, ())
        )
    ]


@pytest.mark.parametrize("input_shape", [(1, 40), (1, 8, 8)])
def test_macro_path_matches_a_standalone_child(input_shape):
    # At max width nothing is sliced, so the path holds exactly the stand-alone child's parameters,
    # shape by shape in the same order (BN affine included), and computes the same function
    # (both use batch statistics in training mode).
    torch.manual_seed(0)
    net = build_macro_supernet(MACRO_CFG, input_shape, 10)
    x = torch.randn(3, *input_shape)
    for arch in _all_max_width_archs():
        child = build_network(arch, input_shape, 10, MACRO_CFG)
        path = net.path_parameters(arch)
        assert sum(p.numel() for p in path) == count_params(child)
        assert [p.shape for p in path] == [p.shape for p in child.parameters()]
        with torch.no_grad():
            for mine, theirs in zip(path, child.parameters(), strict=True):
                theirs.copy_(mine)
        torch.testing.assert_close(net(x, arch), child.train()(x))
    # Narrower children run on slices of full-size tensors, so their path is at least as big.
    for arch in MacroSpace.from_config(MACRO_CFG).sample(np.random.default_rng(3)), PROJECTED:
        child = build_network(arch, input_shape, 10, MACRO_CFG)
        assert sum(p.numel() for p in net.path_parameters(arch)) >= count_params(child)


@pytest.mark.parametrize("input_shape", [(3, 8, 8), (1, 16)])
def test_nb201_path_matches_a_standalone_child(input_shape):
    torch.manual_seed(0)
    net = build_nb201_supernet(NB201_CFG, input_shape, 10)
    x = torch.randn(3, *input_shape)
    for arch in (MIXED_NB201, make_arch(["none"] * 6), make_arch(["nor_conv_3x3"] * 6)):
        child = build_network(arch, input_shape, 10, NB201_CFG)
        path = net.path_parameters(arch)
        assert sum(p.numel() for p in path) == count_params(child)
        assert [p.shape for p in path] == [p.shape for p in child.parameters()]
        with torch.no_grad():
            for mine, theirs in zip(path, child.parameters(), strict=True):
                theirs.copy_(mine)
        torch.testing.assert_close(net(x, arch), child.train()(x))


def test_foreign_or_unknown_archs_raise_value_error():
    macro_cfg = MacroSpaceConfig(num_layers=2, ops=["conv3", "identity"], widths=[4], stem_width=4)
    macro = build_macro_supernet(macro_cfg, (1, 16), 10)
    nb201 = build_nb201_supernet(
        NB201SpaceConfig(ops=["none", "nor_conv_1x1"], channels=2, cells_per_stage=1), (1, 16), 10
    )
    x = torch.randn(2, 1, 16)
    good_macro = macro_arch(("conv3", 4, ()), ("identity", 4, (0,)))
    good_nb201 = make_arch(["none", "nor_conv_1x1"] * 3)
    assert macro(x, good_macro).shape == nb201(x, good_nb201).shape == (2, 10)
    cases = [
        (macro, good_nb201, "macro"),
        (nb201, good_macro, "nb201"),
        (macro, macro_arch(("conv3", 4, ()), ("sep3", 4, ())), "sep3"),
        (macro, macro_arch(("conv3", 4, ()), ("conv3", 8, ())), "width"),
        (macro, macro_arch(("conv3", 4, ())), "2-layer"),
        (nb201, make_arch(["none", "avg_pool_3x3"] * 3), "avg_pool_3x3"),
    ]
    for net, arch, words in cases:
        with pytest.raises(ValueError, match=words):
            net(x, arch)
        with pytest.raises(ValueError, match=words):
            net.path_parameters(arch)
    assert set(NB201_OPS) > {"none", "nor_conv_1x1"}


SHARING = sorted(name for name, d in SPACES.items() if d.supernet is not None)


@pytest.mark.parametrize("name", SHARING)
def test_every_spaces_supernet_is_a_supernet_with_its_signatures(name):
    definition = SPACES[name]
    space = definition.space(definition.config())
    net = definition.supernet(definition.config(), (1, 16), 3)
    assert isinstance(net, Supernet)
    for method in ("forward", "forward_mixed", "path_parameters"):
        declared = list(inspect.signature(getattr(Supernet, method)).parameters)[1:]  # no self
        assert list(inspect.signature(getattr(net, method)).parameters) == declared, method
    arch = space.sample(np.random.default_rng(0))
    path = ids(net.path_parameters(arch))
    assert path and path <= ids(net.parameters())
    assert net(torch.randn(2, 1, 16), arch).shape == (2, 3)


def test_the_supernet_protocol_refuses_a_plain_network():
    assert not isinstance(torch.nn.Linear(2, 2), Supernet)


def _fresh_macro_supernet():
    torch.manual_seed(0)
    return build_macro_supernet(MACRO_CFG, (1, 40), 10)


def _layer0_op(net, op: str, stem_out: torch.Tensor) -> torch.Tensor:
    # What layer 0's `op` makes of a fixed input at width 8: its own weights only.
    with torch.no_grad():
        return net._layer_op(0, op, stem_out, 8)


def test_macro_a_step_on_one_op_leaves_every_other_ops_output_unchanged():
    # Layer 0 reads the 6-channel stem, so each parameter-free op at width 8 needs a projection:
    # each (layer, op) must own its weights, or training one path moves another op's output.
    net, initial = _fresh_macro_supernet(), _fresh_macro_supernet()
    x = torch.randn(4, 1, 40)
    trained = macro_arch(("maxpool3", 8, ()), ("conv3", 8, ()), ("conv3", 4, ()), ("conv3", 4, ()))
    optimizer = torch.optim.SGD(net.parameters(), lr=0.5)
    F.cross_entropy(net(x, trained), torch.arange(4)).backward()
    optimizer.step()
    stem_out = torch.randn(4, 6, 40)  # the stem moved too: compare the ops on one fixed input
    assert not torch.equal(
        _layer0_op(net, "maxpool3", stem_out), _layer0_op(initial, "maxpool3", stem_out)
    )
    for op in MACRO_CFG.ops:
        if op != "maxpool3":
            assert torch.equal(_layer0_op(net, op, stem_out), _layer0_op(initial, op, stem_out)), op
