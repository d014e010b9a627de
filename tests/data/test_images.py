"""A hospital's image folders, on the real DICOM samples of `pydicom-data` and on PNG files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tclearn.data.datasets import DataError
from tclearn.data.images import load_image_folder

pydicom = pytest.importorskip("pydicom")
data_store = pytest.importorskip("data_store")  # the pydicom-data package


def dicom_samples() -> list[Path]:
    """The real DICOM files shipped by pydicom and pydicom-data, read from disk.

    Not `pydicom.data.get_testdata_files`: it tries to download the files it lacks.
    """
    roots = [Path(pydicom.__file__).parent / "data" / "test_files", Path(data_store.__file__).parent]
    return sorted(path for root in roots for path in root.rglob("*.dcm"))


@pytest.mark.slow
def test_dicom_folders_load_and_undecodable_files_are_skipped(tmp_path: Path) -> None:
    samples = dicom_samples()
    assert len(samples) > 100
    for index, sample in enumerate(samples):
        folder = tmp_path / ("ct" if index % 2 else "mr")
        folder.mkdir(exist_ok=True)
        (folder / f"{index:03d}.dcm").symlink_to(sample)
    loaded = load_image_folder(tmp_path, (1, 28, 28))
    data = loaded.dataset
    assert loaded.classes == ["ct", "mr"]
    assert data.x.shape[1:] == (1, 28, 28) and data.x.dtype == np.float32
    assert len(data) + len(loaded.skipped) == len(samples)
    assert len(data) >= 70 and loaded.skipped, "some samples need codecs that are not installed"
    assert data.x.min() >= 0.0 and data.x.max() <= 1.0
    assert set(np.unique(data.y)) == {0, 1}


def test_png_folders_and_errors(tmp_path: Path) -> None:
    for name, value in (("benign", 30), ("malignant", 220)):
        (tmp_path / name).mkdir()
        for i in range(3):
            Image.fromarray(np.full((40, 40), value + i, dtype=np.uint8)).save(tmp_path / name / f"{i}.png")
    (tmp_path / "benign" / "notes.txt").write_text("ignored")
    loaded = load_image_folder(tmp_path, (1, 8, 8))
    assert loaded.dataset.y.tolist() == [0, 0, 0, 1, 1, 1]
    with pytest.raises(DataError, match="greyscale"):
        load_image_folder(tmp_path, (30,))
    with pytest.raises(DataError, match="no class folders"):
        load_image_folder(tmp_path / "benign" / "notes.txt", (1, 8, 8))
