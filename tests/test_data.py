import numpy as np
import pytest
import torch

from child.data.config import DigitsConfig, Mnist1dConfig
from child.data.datasets import carve, load_dataset
from core.errors import ConfigError


def test_mnist1d_has_the_published_shape_and_a_seeded_validation_split():
    data = load_dataset(Mnist1dConfig(val_fraction=0.2), seed=0)
    assert data.input_shape == (1, 40)
    assert (len(data.train_y), len(data.val_y), len(data.test_y)) == (3200, 800, 1000)
    assert data.num_classes == 10
    assert set(data.train_y.unique().tolist()) == set(range(10))
    # Standardised with training statistics.
    assert abs(data.train_x.mean().item()) < 1e-4
    assert abs(data.train_x.std().item() - 1) < 1e-2


def test_splits_are_deterministic_in_the_seed_and_differ_across_seeds():
    a = load_dataset(Mnist1dConfig(), seed=0)
    b = load_dataset(Mnist1dConfig(), seed=0)
    c = load_dataset(Mnist1dConfig(), seed=1)
    assert torch.equal(a.val_x, b.val_x)
    assert not torch.equal(a.val_x, c.val_x)
    # The test set is the data set's own, whatever the seed.
    assert torch.equal(a.test_y, c.test_y)


def test_carve_partitions_the_indices():
    kept, carved = carve(100, 0.25, seed=3)
    assert len(carved) == 25
    assert sorted(np.concatenate([kept, carved]).tolist()) == list(range(100))


def test_digits_are_8x8_images_with_a_test_split_fixed_across_seeds():
    a = load_dataset(DigitsConfig(), seed=0)
    b = load_dataset(DigitsConfig(), seed=5)
    assert a.input_shape == (1, 8, 8)
    assert len(a.train_y) + len(a.val_y) + len(a.test_y) == 1797
    assert torch.equal(a.test_y, b.test_y)
    assert not torch.equal(a.val_y, b.val_y)


def test_bad_fraction_and_unknown_name_name_the_key():
    with pytest.raises(ConfigError, match="dataset.val_fraction"):
        load_dataset(Mnist1dConfig(val_fraction=1.5), seed=0)
    with pytest.raises(ConfigError, match="dataset.name"):
        load_dataset(Mnist1dConfig(name="imagenet"), seed=0)
