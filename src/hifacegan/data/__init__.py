"""Datasets of degraded/target face pairs for training and evaluation (see :mod:`hifacegan.data.datasets`)."""

from hifacegan.data.datasets import DegradedFolderDataset, PairedFolderDataset, StackedPairDataset
from hifacegan.data.transforms import fit_square, split_stacked, stack_pair

__all__ = ["DegradedFolderDataset", "PairedFolderDataset", "StackedPairDataset", "fit_square", "split_stacked",
           "stack_pair"]
