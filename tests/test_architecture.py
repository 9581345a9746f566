import json

from core.architecture import Architecture, Layer


def make_arch() -> Architecture:
    return Architecture(
        space="macro",
        layers=(
            Layer("conv3", (("width", 16),)),
            Layer("sep5", (("width", 32),), inputs=(0,)),
        ),
    )


def test_json_round_trip_gives_an_equal_and_equally_hashed_arch():
    arch = make_arch()
    back = Architecture.from_json(arch.to_json())
    assert back == arch
    assert hash(back) == hash(arch)
    assert json.loads(arch.to_json())["layers"][1]["inputs"] == [0]


def test_architectures_key_dicts_and_sets():
    assert len({make_arch(), make_arch()}) == 1


def test_str_names_every_layer_op_width_and_skip():
    assert str(make_arch()) == "macro[conv3(width=16) | sep5(width=32)<-0]"
