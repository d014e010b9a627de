"""A hospital's image folders: one sub-folder per class, PNG/JPEG or DICOM files inside.

    <root>/<class name>/*.dcm|*.png|*.jpg

Images become greyscale, scaled to [0, 1] (DICOM by its own pixel range) and resized to the
coalition's input shape. Files that cannot be decoded (a DICOM compressed with a codec not
installed, a damaged file) are skipped and counted, not fatal: a hospital's archive is never
perfectly clean.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tclearn.data.datasets import DataError, Dataset

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}
DICOM_SUFFIXES = {".dcm", ".dicom"}


@dataclass(frozen=True)
class FolderLoad:
    dataset: Dataset
    classes: list[str]
    skipped: list[Path]


def load_image_folder(root: Path, input_shape: tuple[int, ...], classes: list[str] | None = None) -> FolderLoad:
    """All decodable images under `root`'s class folders, labelled by folder (sorted, or `classes`)."""
    if len(input_shape) != 3 or input_shape[0] != 1:
        raise DataError(f"image folders load as greyscale (1, H, W); the coalition's input is {input_shape}")
    folders = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    names = classes or [p.name for p in folders]
    if not names:
        raise DataError(f"{root} holds no class folders")
    images, labels, skipped = [], [], []
    for label, name in enumerate(names):
        for path in sorted((root / name).glob("*")):
            suffix = path.suffix.lower()
            if suffix not in IMAGE_SUFFIXES | DICOM_SUFFIXES:
                continue
            try:
                pixels = _read_dicom(path) if suffix in DICOM_SUFFIXES else _read_picture(path)
            except Exception:
                skipped.append(path)
                continue
            images.append(_resize(pixels, input_shape[1:]))
            labels.append(label)
    if not images:
        raise DataError(f"no decodable image under {root}")
    x = np.stack(images)[:, None, :, :].astype(np.float32)
    return FolderLoad(Dataset(root.name, x, np.array(labels, dtype=np.int64), len(names)), names, skipped)


def _read_dicom(path: Path) -> np.ndarray:
    import pydicom

    with warnings.catch_warnings():  # pydicom warns about every quirk of real-world files
        warnings.simplefilter("ignore", UserWarning)
        pixels = pydicom.dcmread(path).pixel_array.astype(np.float64)
    while pixels.ndim > 2:  # multi-frame or colour: first frame, mean of channels
        pixels = pixels[0] if pixels.shape[0] <= pixels.shape[-1] or pixels.ndim == 4 else pixels.mean(axis=-1)
    return _unit_range(pixels)


def _read_picture(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        return _unit_range(np.asarray(image.convert("L"), dtype=np.float64))


def _unit_range(pixels: np.ndarray) -> np.ndarray:
    low, high = float(pixels.min()), float(pixels.max())
    return (pixels - low) / (high - low) if high > low else np.zeros_like(pixels)


def _resize(pixels: np.ndarray, size: tuple[int, ...]) -> np.ndarray:
    from PIL import Image

    image = Image.fromarray((pixels * 255).astype(np.uint8))
    return np.asarray(image.resize((size[1], size[0]), Image.Resampling.BILINEAR), dtype=np.float32) / 255.0
