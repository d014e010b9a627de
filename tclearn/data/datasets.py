"""The real datasets a coalition can train on here, shipped by packages (no download at run time).

- ``breast-cancer``: Wisconsin diagnostic breast cancer (scikit-learn), 569 patients × 30
  features of digitised fine-needle aspirates, malignant vs benign: the medical default, an MLP.
- ``digits``: 1,797 8×8 handwritten digits (scikit-learn), 10 classes: a fast image track.
- ``fashion-mnist``: 70,000 28×28 images, 10 classes, from Debian's `dataset-fashion-mnist`.
"""

from __future__ import annotations

import gzip
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tclearn.data.preprocessing import Preprocessing
from tclearn.errors import TCLearnError

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")


class DataError(TCLearnError):
    """A dataset or a member's data folder that cannot be loaded as asked."""


@dataclass(frozen=True)
class Dataset:
    """Features (float32, shaped `input_shape` per sample) and integer labels."""

    name: str
    x: np.ndarray
    y: np.ndarray
    num_classes: int

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])

    def subset(self, indices: np.ndarray) -> Dataset:
        return Dataset(self.name, self.x[indices], self.y[indices], self.num_classes)

    def __len__(self) -> int:
        return len(self.y)


def load_dataset(name: str) -> Dataset:
    """One of DATASETS by name, features scaled to comparable ranges."""
    try:
        loader = DATASETS[name]
    except KeyError as exc:
        raise DataError(f"unknown dataset {name!r}: one of {', '.join(DATASETS)}") from exc
    return loader()


def preprocessing_for(name: str) -> Preprocessing:
    """The transform a coalition on dataset `name` fixes for its members' raw CSV files (the
    identity for image sets, read as [0, 1] grey levels)."""
    if name == "breast-cancer":
        return _breast_cancer_preprocessing(_breast_cancer_raw()[0])
    return Preprocessing()


def _breast_cancer_raw() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer()
    return bunch.data.astype(np.float64), bunch.target.astype(np.int64)


def _breast_cancer_preprocessing(raw: np.ndarray) -> Preprocessing:
    # Log-scale the heavy-tailed measurements and standardise; the statistics are a fixed
    # property of the feature definitions a coalition agrees on, not learnt from a member.
    return Preprocessing.standardizing(raw, log1p=True)


def _breast_cancer() -> Dataset:
    raw, y = _breast_cancer_raw()
    return Dataset("breast-cancer", _breast_cancer_preprocessing(raw).apply(raw), y, 2)


def _digits() -> Dataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.images / 16.0).astype(np.float32)[:, None, :, :]
    return Dataset("digits", x, bunch.target.astype(np.int64), 10)


def _fashion_mnist() -> Dataset:
    parts = {}
    for split in ("train", "t10k"):
        images = _idx(FASHION_MNIST_DIR / f"{split}-images-idx3-ubyte.gz")
        labels = _idx(FASHION_MNIST_DIR / f"{split}-labels-idx1-ubyte.gz")
        parts[split] = (images, labels)
    x = np.concatenate([parts["train"][0], parts["t10k"][0]]).astype(np.float32)[:, None, :, :] / 255.0
    y = np.concatenate([parts["train"][1], parts["t10k"][1]]).astype(np.int64)
    return Dataset("fashion-mnist", x, y, 10)


def _idx(path: Path) -> np.ndarray:
    """Reads a gzip IDX file (the MNIST format)."""
    try:
        with gzip.open(path, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError as exc:
        raise DataError(f"{path} not found: install Debian's dataset-fashion-mnist (apt-get install)") from exc
    dims = raw[3]
    shape = struct.unpack(f">{dims}I", raw[4 : 4 + 4 * dims])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


DATASETS = {"breast-cancer": _breast_cancer, "digits": _digits, "fashion-mnist": _fashion_mnist}
