"""The coalition's preprocessing: a member's raw CSV becomes exactly the model's input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tclearn.data.datasets import DataError, Dataset, _breast_cancer_raw, load_dataset, preprocessing_for
from tclearn.data.loaders import load_local_data, save_csv
from tclearn.data.preprocessing import Preprocessing
from tclearn.errors import ConfigError
from tclearn.rules import CoalitionRules


def test_a_hospitals_raw_measurements_become_the_demonstrations_features(tmp_path: Path) -> None:
    raw, y = _breast_cancer_raw()
    path = tmp_path / "raw.csv"
    save_csv(path, Dataset("raw", raw.astype(np.float32), y, 2))
    loaded = load_local_data(path, (30,), 2, preprocessing_for("breast-cancer"))
    assert np.allclose(loaded.x, load_dataset("breast-cancer").x, atol=1e-4)
    assert abs(float(loaded.x.mean())) < 1e-3 and abs(float(loaded.x.std()) - 1) < 1e-3


def test_samples_to_predict_may_come_without_labels(tmp_path: Path) -> None:
    """`tclearn model predict` reads features alone (labels -1); training data must be labelled."""
    raw, labels = _breast_cancer_raw()
    path = tmp_path / "new-patients.csv"
    np.savetxt(path, raw[:7], delimiter=",", fmt="%.8g")
    loaded = load_local_data(path, (30,), 2, preprocessing_for("breast-cancer"), unlabelled=True)
    assert loaded.x.shape == (7, 30) and (loaded.y == -1).all()
    assert np.allclose(loaded.x, load_dataset("breast-cancer").x[:7], atol=1e-5)
    with pytest.raises(DataError, match="expected 30 features and a label"):
        load_local_data(path, (30,), 2, preprocessing_for("breast-cancer"))
    labelled = tmp_path / "patients.csv"
    save_csv(labelled, Dataset("raw", raw[:7].astype("float32"), labels[:7], 2))
    read = load_local_data(labelled, (30,), 2, preprocessing_for("breast-cancer"), unlabelled=True)
    assert (read.y == labels[:7]).all()


def test_already_standardised_values_are_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "standardised.csv"
    save_csv(path, load_dataset("breast-cancer").subset(np.arange(50)))
    with pytest.raises(DataError, match="give the raw measurements"):
        load_local_data(path, (30,), 2, preprocessing_for("breast-cancer"))


def test_the_identity_leaves_features_alone_and_its_rule_is_empty() -> None:
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    assert np.array_equal(Preprocessing().apply(x), x) and Preprocessing().as_dict() == {}


def test_a_standardising_rule_round_trips_through_the_rules_document() -> None:
    reference = np.random.default_rng(0).normal(5.0, 2.0, size=(200, 4))
    prep = Preprocessing.standardizing(reference)
    rules = CoalitionRules(architecture={}, preprocessing=prep.as_dict())
    again = CoalitionRules.from_document(rules.document()).preprocess()
    assert again == prep
    assert np.allclose(again.apply(reference).mean(axis=0), 0, atol=1e-5)


@pytest.mark.parametrize(
    "raw",
    [{"mean": [1.0], "std": []}, {"mean": [0.0], "std": [0.0]}, {"mean": ["a"], "std": [1.0]}, ["not", "a", "dict"]],
)
def test_a_malformed_preprocessing_rule_is_refused(raw: object) -> None:
    with pytest.raises(ConfigError):
        CoalitionRules(architecture={}, preprocessing=raw)  # type: ignore[arg-type]
