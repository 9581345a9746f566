"""Your own data as a data set: `dataset=folder` (images) and `dataset=arrays` (an .npz).

Both split like the built-in sets: a test set is the files' own or carved once with
`split_seed` (the same for every run), then the validation split is carved from the rest with
the run's seed, and every split is standardised with the training split's statistics. What was
read and detected is logged in one line (a warning when something was guessed, so that it shows
on the console).
"""

from __future__ import annotations

import dataclasses
import logging

from child.data.config import ArraysConfig, FolderConfig, UserDataConfig
from child.data.datasets import DatasetDef, DataSplits, carve, make_splits
from child.data.image_folder import class_names as folder_class_names
from child.data.npz_arrays import class_names as npz_class_names
from child.data.user_files import carve_test_note

log = logging.getLogger(__name__)


def load_user_data(cfg: UserDataConfig, seed: int) -> DataSplits:
    """The splits of the user's files (`cfg.read()`, checked), with the test set kept apart."""
    arrays = cfg.read()
    x, y = arrays.train
    report = arrays.report
    if arrays.test is None:
        train, test = carve(len(y), cfg.test_fraction, cfg.split_seed)
        train_set, test_set = (x[train], y[train]), (x[test], y[test])
        report += f"; {carve_test_note(cfg.test_fraction, cfg.split_seed)}"
    else:
        train_set, test_set = arrays.train, arrays.test
    (log.warning if arrays.guessed else log.info)("%s", report)
    splits = make_splits(cfg.name, train_set, test_set, cfg.val_fraction, seed, arrays.num_classes)
    return dataclasses.replace(splits, hflip=cfg.hflip)


DATASET = (
    DatasetDef("folder", FolderConfig, load_user_data, lambda cfg: folder_class_names(cfg.path)),
    DatasetDef("arrays", ArraysConfig, load_user_data, lambda cfg: npz_class_names(cfg.path)),
)
