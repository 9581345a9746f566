import numpy as np
import pytest

from child.spaces import build_space
from child.spaces.macro.space import MACRO_OPS, MacroSpace, MacroSpaceConfig
from core.errors import ConfigError
from core.space import SkipChoice

SPACE = MacroSpace(num_layers=5, ops=MACRO_OPS, widths=(16, 32, 64))


def test_tokens_round_trip_for_many_random_architectures():
    rng = np.random.default_rng(0)
    for _ in range(200):
        arch = SPACE.sample(rng)
        tokens = SPACE.encode(arch)
        assert len(tokens) == SPACE.num_tokens
        assert SPACE.decode(tokens) == arch


def test_decision_program_asks_op_width_then_skips_over_earlier_layers():
    names = [d.name for d, _ in SPACE.walk(SPACE.encode(SPACE.sample(np.random.default_rng(1))))]
    assert names[:5] == ["layer0.op", "layer0.width", "layer1.op", "layer1.width", "layer1.skips"]
    skips = [d for d, _ in SPACE.walk([0] * SPACE.num_tokens) if isinstance(d, SkipChoice)]
    assert [d.num_anchors for d in skips] == [1, 2, 3, 4]


def test_skips_off_means_no_skip_tokens_and_no_inputs():
    space = MacroSpace(num_layers=3, ops=("conv3", "identity"), widths=(8,), skips=False)
    arch = space.sample(np.random.default_rng(0))
    assert space.num_tokens == 6
    assert all(layer.inputs == () for layer in arch.layers)


def test_invalid_token_lists_are_refused():
    with pytest.raises(ValueError):
        SPACE.decode([0] * (SPACE.num_tokens - 1))
    with pytest.raises(ValueError):
        SPACE.decode([99] + [0] * (SPACE.num_tokens - 1))


def test_mutation_changes_exactly_one_decision():
    rng = np.random.default_rng(2)
    for _ in range(50):
        arch = SPACE.sample(rng)
        child = SPACE.mutate(arch, rng)
        before = dict((d.name, a) for d, a in SPACE.walk(SPACE.encode(arch)))
        after = dict((d.name, a) for d, a in SPACE.walk(SPACE.encode(child)))
        changed = [name for name in before if before[name] != after[name]]
        assert len(changed) == 1
        if changed[0].endswith("skips"):  # one bit flipped
            assert (
                sum(x != y for x, y in zip(before[changed[0]], after[changed[0]], strict=True)) == 1
            )


@pytest.mark.parametrize(
    ("cfg", "key"),
    [
        ({"num_layers": 0}, "search_space.num_layers"),
        ({"ops": []}, "search_space.ops"),
        ({"ops": ["conv9"]}, "search_space.ops"),
        ({"widths": []}, "search_space.widths"),
        ({"name": "nope"}, "search_space.name"),
        ({"stem_width": 0}, "search_space.stem_width"),
        ({"pool_after": [4]}, "search_space.pool_after"),
    ],
)
def test_bad_space_configs_name_the_key(cfg, key):
    base = {"num_layers": 4, "ops": ["conv3"], "widths": [16], "skips": True}
    with pytest.raises(ConfigError, match=key):
        build_space(MacroSpaceConfig(**{**base, **cfg}))
