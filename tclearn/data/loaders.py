"""A hospital's own data: a CSV file of features with the label in the last column, or a folder
of images (PNG/JPEG/DICOM) with one sub-folder per class (`tclearn.data.images`)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from tclearn.data.datasets import DataError, Dataset
from tclearn.data.preprocessing import Preprocessing
from tclearn.errors import ConfigError

FLOAT32_MAX = float(np.finfo(np.float32).max)
MAX_LABEL = 2**31 - 1


def load_local_data(
    path: Path,
    input_shape: tuple[int, ...],
    num_classes: int,
    preprocessing: Preprocessing | None = None,
    unlabelled: bool = False,
) -> Dataset:
    """A CSV file of raw features, brought to the model's input by the coalition's
    `preprocessing`, or an image folder, as the coalition's input shape; its labels checked to
    be among the coalition's `num_classes` classes. `unlabelled`: a CSV may also hold features
    alone (samples to predict), whose labels read as -1."""
    if path.is_dir():
        from tclearn.data.images import load_image_folder

        data = load_image_folder(path, input_shape).dataset
    else:
        data = load_csv(path, input_shape, unlabelled=unlabelled)
        if preprocessing is not None:
            try:
                data = Dataset(data.name, preprocessing.apply(data.x), data.y, data.num_classes)
            except ConfigError as exc:
                raise DataError(f"{path}: {exc}") from None
    if len(data.y) and int(data.y.max()) >= num_classes:
        raise DataError(
            f"{path}: label {int(data.y.max())} is not one of this coalition's classes 0..{num_classes - 1}"
        )
    return Dataset(data.name, data.x, data.y, num_classes)


def load_csv(
    path: Path, input_shape: tuple[int, ...], num_classes: int | None = None, unlabelled: bool = False
) -> Dataset:
    """Rows of numeric features and an integer label (last column); a header line is skipped.
    `unlabelled`: rows of features alone are read too, their labels -1."""
    try:
        with warnings.catch_warnings():  # an empty file is reported below, in one line
            warnings.simplefilter("ignore")
            table = np.genfromtxt(path, delimiter=",", dtype=np.float64, skip_header=_has_header(path))
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"cannot read {path} as CSV text: {exc.__class__.__name__}") from None
    if table.size == 0:
        raise DataError(f"{path}: no rows of data")
    table = np.atleast_2d(table)
    features = int(np.prod(input_shape))
    if unlabelled and table.shape[1] == features:
        table = np.column_stack([table, np.full(len(table), -1.0)])
    if table.shape[1] != features + 1:
        raise DataError(f"{path}: {table.shape[1]} columns, expected {features} features and a label")
    if not np.isfinite(table).all():
        raise DataError(f"{path}: empty or non-numeric cells")
    labels = table[:, -1]
    if not np.all(labels == np.round(labels)) or labels.min() < -int(unlabelled) or labels.max() > MAX_LABEL:
        raise DataError(f"{path}: labels (last column) must be non-negative integers (class numbers)")
    if np.abs(table[:, :-1]).max(initial=0.0) > FLOAT32_MAX:
        raise DataError(f"{path}: a feature is beyond what a model's 32-bit input can hold (±3.4e38)")
    x = table[:, :-1].astype(np.float32).reshape((len(table), *input_shape))
    y = labels.astype(np.int64)
    return Dataset(path.stem, x, y, num_classes or max(1, int(y.max()) + 1))


def save_csv(path: Path, dataset: Dataset) -> None:
    """Writes a dataset in the layout `load_csv` reads (for exports and tests)."""
    flat = dataset.x.reshape(len(dataset), -1)
    np.savetxt(path, np.column_stack([flat, dataset.y]), delimiter=",", fmt="%.8g")


def _has_header(path: Path) -> int:
    try:
        with path.open(encoding="utf-8") as handle:
            first = handle.readline()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc
    except UnicodeDecodeError:
        raise DataError(f"cannot read {path} as CSV text: it is not UTF-8") from None
    try:
        [float(cell) for cell in first.strip().split(",")]
    except ValueError:
        return 1
    return 0
