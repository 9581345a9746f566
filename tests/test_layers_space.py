import json

import numpy as np
import pytest
import torch

from app.config import compose_config, typed_config
from child.spaces import build_network, build_space, format_arch
from child.spaces.layers.network import ACTIVATION_MODULES, LayersNet, fit_window
from child.spaces.layers.space import ACTIVATIONS, SPATIAL_TYPES, LayersSpace, LayersSpaceConfig
from controller.config import LSTMControllerConfig
from controller.policy import LSTMPolicy
from controller.policy_gradient import PolicyGradientController
from core.architecture import Architecture, Layer
from core.errors import ConfigError
from tests.helpers import run_search

SPACE = LayersSpace.from_config(LayersSpaceConfig())  # search_space=layers


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def conv(kernel=3, stride=1, filters=16, activation="relu"):
    params = (("kernel", kernel), ("stride", stride), ("filters", filters))
    return Layer("conv", (*params, ("activation", activation)))


def pool(size=2, stride=2):
    return Layer("pool", (("size", size), ("stride", stride)))


def fc(units=64, activation="relu"):
    return Layer("fc", (("units", units), ("activation", activation)))


def dropout(rate=0.5):
    return Layer("dropout", (("rate", rate),))


def arch(*layers):
    return Architecture("layers", tuple(layers))


def spatial_after_fc(a):
    """Indices of conv/pool layers that follow an fc layer (must never exist)."""
    bad, flat = [], False
    for i, layer in enumerate(a.layers):
        if flat and layer.op in SPATIAL_TYPES:
            bad.append(i)
        flat = flat or layer.op == "fc"
    return bad


def all_token_lists(space, prefix=()):
    """Every complete, legal token list of `space`, by running its decision program."""
    decision = space.next_decision(prefix)
    if decision is None:
        yield list(prefix)
        return
    for token in decision.allowed_tokens():
        yield from all_token_lists(space, (*prefix, token))


def test_the_cli_option_builds_the_default_space():
    cfg = typed_config(compose_config(["search_space=layers"])).search_space
    assert cfg == LayersSpaceConfig()
    assert build_space(cfg) == SPACE


def test_tokens_round_trip_for_many_random_architectures():
    rng = np.random.default_rng(0)
    for _ in range(300):
        a = SPACE.sample(rng)
        assert SPACE.decode(SPACE.encode(a)) == a
        # JSON (children.jsonl, checkpoints) must not break encoding, floats included.
        assert SPACE.encode(Architecture.from_json(a.to_json())) == SPACE.encode(a)


def test_only_the_decisions_of_a_layers_type_are_asked():
    a = arch(conv(5, 2, 32, "tanh"), pool(3, 1), dropout(0.3), fc(256), dropout(0.2), fc(64))
    pairs = SPACE.walk(SPACE.encode(a))
    assert [d.name for d, _ in pairs] == [
        "layer0.type",
        "layer0.conv.kernel",
        "layer0.conv.stride",
        "layer0.conv.filters",
        "layer0.conv.activation",
        "layer1.type",
        "layer1.pool.size",
        "layer1.pool.stride",
        "layer2.type",
        "layer2.dropout.rate",
        "layer3.type",
        "layer3.fc.units",
        "layer3.fc.activation",
        "layer4.type",
        "layer4.dropout.rate",
        "layer5.type",
        "layer5.fc.units",
        "layer5.fc.activation",
    ]
    assert [d.name for d, _ in pairs if d.ends_layer] == [
        "layer0.conv.activation",
        "layer1.pool.stride",
        "layer2.dropout.rate",
        "layer3.fc.activation",
        "layer4.dropout.rate",
        "layer5.fc.activation",
    ]
    assert SPACE.decode(SPACE.encode(a)) == a
    assert (
        format_arch(a) == "conv5/2x32-tanh | pool3/1 | drop0.3 | fc256-relu | drop0.2 | fc64-relu"
    )


def test_sampled_layers_carry_exactly_their_types_params():
    expected = {
        "conv": ["kernel", "stride", "filters", "activation"],
        "pool": ["size", "stride"],
        "fc": ["units", "activation"],
        "dropout": ["rate"],
    }
    rng = np.random.default_rng(1)
    seen = set()
    for _ in range(200):
        for layer in SPACE.sample(rng).layers:
            assert [k for k, _ in layer.params] == expected[layer.op]
            seen.add(layer.op)
    assert seen == set(expected)


def test_heads_list_every_head_the_decisions_use_with_its_size():
    used = {}
    rng = np.random.default_rng(2)
    for _ in range(200):
        for decision, _ in SPACE.walk(SPACE.encode(SPACE.sample(rng))):
            used[decision.head] = len(decision.options)
    assert used == SPACE.heads()
    # Heads become nn.ModuleDict keys: no dots, and no clash with nn.Module attributes.
    assert not any("." in head or hasattr(torch.nn.ModuleDict(), head) for head in used)
    small = LayersSpace.from_config(LayersSpaceConfig(types=["conv", "dropout"]))
    assert set(small.heads()) == {
        "layer_type",
        "conv_kernel",
        "conv_stride",
        "conv_filters",
        "activation",
        "dropout_rate",
    }


def test_conv_and_pool_are_masked_once_an_fc_layer_made_the_data_flat():
    before = SPACE.next_decision(SPACE.encode(arch(conv(), *[dropout()] * 5))[:5])
    assert before.name == "layer1.type" and before.allowed is None
    tokens = SPACE.encode(arch(fc(), *[dropout()] * 5))
    after = SPACE.next_decision(tokens[:3])
    assert after.name == "layer1.type"
    assert after.allowed == (False, False, True, True)  # conv, pool, fc, dropout
    with pytest.raises(ValueError):
        SPACE.encode(arch(fc(), conv(), *[dropout()] * 4))
    with pytest.raises(ValueError):
        SPACE.decode(tokens[:3] + [SPACE.types.index("pool"), 0, 0] + tokens[5:])


def test_random_sampling_never_puts_conv_or_pool_after_fc():
    rng = np.random.default_rng(3)
    archs = [SPACE.sample(rng) for _ in range(500)]
    assert all(not spatial_after_fc(a) for a in archs)
    assert any(any(layer.op in SPATIAL_TYPES for layer in a.layers) for a in archs)


def test_mutation_yields_a_valid_different_architecture():
    rng = np.random.default_rng(4)
    new_conv_kernels = set()
    for _ in range(300):
        parent = SPACE.sample(rng)
        child = SPACE.mutate(parent, rng)
        assert child != parent
        assert SPACE.decode(SPACE.encode(child)) == child  # a legal token list
        assert not spatial_after_fc(child)
        changed = [
            i for i, (p, c) in enumerate(zip(parent.layers, child.layers, strict=True)) if p != c
        ]
        first = changed[0]
        if parent.layers[first].op == child.layers[first].op:
            before, after = dict(parent.layers[first].params), dict(child.layers[first].params)
            assert sum(before[k] != after[k] for k in before) == 1
        elif child.layers[first].op == "conv":
            new_conv_kernels.add(child.layers[first].param("kernel"))
        # A later layer changes only when the mutation flattened the data before it.
        for i in changed[1:]:
            flat_before = any(layer.op == "fc" for layer in child.layers[:i])
            assert parent.layers[i].op in SPATIAL_TYPES and flat_before
    # A layer that changes type gets random parameters, not fixed defaults.
    assert new_conv_kernels == set(SPACE.conv_kernels)


def test_controller_never_samples_a_masked_type():
    controller = PolicyGradientController(SPACE, LSTMControllerConfig(), seed=0)
    archs = controller.propose(300)
    assert all(not spatial_after_fc(a) for a in archs)
    # Now favour conv (masked after fc) and fc, so that masks are hit at most steps.
    with torch.no_grad():
        controller.policy.heads["layer_type"].bias.copy_(torch.tensor([5.0, -5.0, 5.0, -5.0]))
    archs = controller.propose(300)
    assert all(not spatial_after_fc(a) for a in archs)
    ops = [[layer.op for layer in a.layers] for a in archs]
    after_fc = sum(len(o) - 1 - o.index("fc") for o in ops if "fc" in o)
    assert after_fc > 300


def test_rescoring_sampled_tokens_gives_the_same_log_prob_and_entropy():
    torch.manual_seed(0)
    policy = LSTMPolicy(SPACE, hidden_size=32)
    generator = torch.Generator().manual_seed(0)
    lengths = set()
    sampled = policy.sample(30, generator)
    rescored = policy.score(sampled.tokens)
    assert rescored.tokens == sampled.tokens
    assert torch.allclose(rescored.log_prob, sampled.log_prob, atol=1e-5)
    assert torch.allclose(rescored.entropy, sampled.entropy, atol=1e-5)
    for tokens in sampled.tokens:
        lengths.add(len(tokens))
        assert not spatial_after_fc(SPACE.decode(tokens))
    assert len(lengths) > 1  # the token count depends on the types chosen


def test_log_prob_is_a_proper_distribution_over_a_tiny_conditional_space():
    space = LayersSpace.from_config(
        LayersSpaceConfig(
            num_layers=2,
            types=["conv", "fc", "dropout"],
            conv_kernels=[3],
            conv_strides=[1, 2],
            conv_filters=[8],
            fc_units=[4, 8],
            activations=["relu", "tanh"],
            dropout_rates=[0.5],
        )
    )
    policy = LSTMPolicy(space, hidden_size=8)
    token_lists = list(all_token_lists(space))
    # layer 0: conv 4 + fc 4 + dropout 1 = 9 ways; layer 1: 9 after conv/dropout, 5 after fc.
    assert len(token_lists) == 4 * 9 + 4 * 5 + 1 * 9
    with torch.no_grad():
        total = sum(policy.score([t]).log_prob.exp().item() for t in token_lists)
    assert total == pytest.approx(1.0, abs=1e-5)
    masked = [1, 0, 0, 0, 0, 0, 0, 0]  # fc4-relu, then conv3/1x8-relu: illegal after fc
    assert policy.score([masked]).log_prob.item() == float("-inf")


@pytest.mark.parametrize(
    ("size", "window", "stride", "expected"),
    [
        (40, 3, 2, (3, 2, 19)),
        (4, 3, 2, (3, 2, 1)),
        (3, 3, 1, (3, 1, 1)),
        (2, 3, 2, (2, 1, 1)),  # window too large: clipped, stride 1
        (1, 2, 2, (1, 1, 1)),
    ],
)
def test_repair_rule_clips_the_window_and_drops_the_stride(size, window, stride, expected):
    assert fit_window(size, window, stride) == expected


def test_repair_rule_in_the_network_on_tiny_feature_maps():
    a = arch(pool(3, 2), pool(3, 2), conv(5, 2, 8), pool(3, 2), pool(2, 2), dropout())
    net = LayersNet(a, (1, 8, 8), 10)
    assert net.shapes == [(1, 3, 3), (1, 1, 1), (8, 1, 1), (8, 1, 1), (8, 1, 1), (8, 1, 1)]
    repaired = net.features[3]
    assert repaired.kernel_size == (1, 1) and repaired.stride == (1, 1)
    out = net(torch.randn(2, 1, 8, 8))
    assert out.shape == (2, 10)
    net_1d = LayersNet(a, (1, 40), 10)
    assert [s[1] for s in net_1d.shapes] == [19, 9, 5, 2, 1, 1]
    assert net_1d(torch.randn(2, 1, 40)).shape == (2, 10)


def test_head_pools_spatial_features_and_is_linear_on_flat_ones():
    spatial = LayersNet(arch(conv(filters=32), dropout()), (1, 8, 8), 10)
    assert not spatial.flat and spatial.classifier.in_features == 32
    flat = LayersNet(arch(conv(3, 2, 16), fc(128), dropout()), (1, 8, 8), 10)
    assert flat.flat and flat.classifier.in_features == 128
    assert flat.features[1][1].in_features == 16 * 4 * 4  # flatten size after a stride-2 conv
    only_dropout = LayersNet(arch(dropout()), (3, 5), 4)
    assert only_dropout(torch.randn(2, 3, 5)).shape == (2, 4)


def test_every_activation_has_an_implementation():
    assert set(ACTIVATIONS) == set(ACTIVATION_MODULES)


@pytest.mark.parametrize("input_shape", [(1, 40), (1, 8, 8), (2, 1, 1), (1, 1)])
def test_random_layers_nets_run_forward_and_backward(input_shape):
    rng = np.random.default_rng(5)
    torch.manual_seed(0)
    for _ in range(200):
        a = SPACE.sample(rng)
        net = build_network(a, input_shape, 10)
        x = torch.randn(3, *input_shape)
        # The shapes tracked while building are the shapes the layers produce.
        h = x
        for module, shape in zip(net.features, net.shapes, strict=True):
            h = module(h)
            assert h.shape[1:] == shape, (format_arch(a), net.shapes)
        out = net(x)
        assert out.shape == (3, 10)
        out.logsumexp(1).mean().backward()
        assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())


@pytest.mark.parametrize(
    ("cfg", "key"),
    [
        ({"num_layers": 0}, "search_space.num_layers"),
        ({"types": []}, "search_space.types"),
        ({"types": ["conv", "attention"]}, "search_space.types"),
        ({"conv_kernels": []}, "search_space.conv_kernels"),
        ({"conv_kernels": [4]}, "search_space.conv_kernels"),
        ({"conv_strides": [0]}, "search_space.conv_strides"),
        ({"pool_sizes": [2, 2]}, "search_space.pool_sizes"),
        ({"fc_units": []}, "search_space.fc_units"),
        ({"activations": ["gelu"]}, "search_space.activations"),
        ({"dropout_rates": [1.0]}, "search_space.dropout_rates"),
    ],
)
def test_bad_space_configs_name_the_key(cfg, key):
    with pytest.raises(ConfigError, match=key):
        build_space(LayersSpaceConfig(**cfg))


def test_a_bad_yaml_override_names_the_key():
    raw = compose_config(["search_space=layers", "search_space.fc_units=[]"])
    with pytest.raises(ConfigError, match=r"search_space\.fc_units=\[\] is invalid"):
        build_space(typed_config(raw).search_space)


def test_search_runs_end_to_end_on_the_layers_space(tmp_path):
    summary, _ = run_search(
        tmp_path,
        [
            "search_space=layers",
            "dataset=digits",
            "child.epochs=1",
            "budget.children=4",
            "budget.batch=2",
            "child.threads=1",
        ],
    )
    assert summary["children"] == 4
    children = [json.loads(line) for line in (tmp_path / "children.jsonl").read_text().splitlines()]
    assert all(c["status"] == "ok" for c in children), [c["message"] for c in children]
    for c in children:
        a = Architecture.from_dict(c["arch"])
        assert a.space == "layers" and c["arch_str"] == format_arch(a)
        SPACE.encode(a)
