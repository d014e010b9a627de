"""The vote rule on paired evaluations, and the metrics word a vote carries."""

from __future__ import annotations

import numpy as np
import pytest

from tclearn.fba.metrics import VoteMetrics
from tclearn.fba.policy import Tolerance, degradation, judge
from tclearn.model.train import Evaluation

TOL = Tolerance()


def evaluation(correct: np.ndarray, labels: np.ndarray, loss: float = 0.3) -> Evaluation:
    return Evaluation(correct.astype(bool), np.full(len(labels), loss), labels, int(labels.max()) + 1)


def flip(correct: np.ndarray, indices: np.ndarray) -> np.ndarray:
    out = correct.copy()
    out[indices] = ~out[indices]
    return out


RNG = np.random.default_rng(0)
LABELS = RNG.integers(0, 2, size=200)
PARENT = RNG.random(200) < 0.9


def test_identical_models_pass() -> None:
    parent = evaluation(PARENT, LABELS)
    assert degradation(parent, parent, TOL) is None


def test_a_real_drop_on_g_is_refused() -> None:
    right = np.flatnonzero(PARENT)[:20]  # 10 % of answers lost
    parent, worse = evaluation(PARENT, LABELS), evaluation(flip(PARENT, right), LABELS)
    assert degradation(parent, worse, TOL) == "accuracy"
    verdict = judge(parent, worse, parent, parent, TOL)
    assert (verdict.accept, verdict.reason) == (False, "global-accuracy")


def test_noise_is_not_a_drop() -> None:
    right, wrong = np.flatnonzero(PARENT)[:3], np.flatnonzero(~PARENT)[:2]
    candidate = evaluation(flip(flip(PARENT, right), wrong), LABELS)
    assert degradation(evaluation(PARENT, LABELS), candidate, TOL) is None


def test_a_rising_loss_is_refused_even_at_equal_accuracy() -> None:
    parent = evaluation(PARENT, LABELS, loss=0.3)
    overconfident = evaluation(PARENT, LABELS, loss=0.6)
    assert degradation(parent, overconfident, TOL) == "loss"


def test_a_skewed_local_set_does_not_veto_an_honest_step() -> None:
    """L holds one class only; the step keeps its answers there (it helps classes L lacks)."""
    labels = np.zeros(30, dtype=np.int64)
    parent = evaluation(np.ones(30, dtype=bool), labels)
    same_on_l = evaluation(np.ones(30, dtype=bool), labels)
    global_parent = evaluation(PARENT, LABELS)
    global_better = evaluation(flip(PARENT, np.flatnonzero(~PARENT)[:10]), LABELS)
    assert judge(global_parent, global_better, parent, same_on_l, TOL).accept
    worse_on_l = evaluation(flip(np.ones(30, dtype=bool), np.arange(8)), labels)
    assert judge(global_parent, global_better, parent, worse_on_l, TOL).reason == "local-accuracy"


def test_one_sample_of_a_rare_class_is_not_a_significant_loss() -> None:
    """L holds 1 sample of class 0 and 21 of class 1: class-balanced, that one sample weighs
    half of L, but losing it alone is no evidence (weighted sign test)."""
    labels = np.array([0] + [1] * 21)
    before = np.array([True] + [False] * 5 + [True] * 16)
    after = np.array([False] + [True] * 21)
    assert degradation(evaluation(before, labels), evaluation(after, labels), TOL, balanced=True) is None
    lost_many = np.array([0] * 11 + [1] * 11)
    worse = degradation(
        evaluation(np.ones(22, bool), lost_many), evaluation(np.arange(22) >= 6, lost_many), TOL, balanced=True
    )
    assert worse == "accuracy", "six of eleven answers of a class lost is a real loss"


def test_l_does_not_veto_a_loss_g_already_shows_on_its_classes() -> None:
    """The first steps from a random model trade class 0 answers for class 1 answers, on G as on
    the L of a validator that holds class 0 only: G approves the trade, L must not veto it; the
    same L loss with no such loss on G's class 0 is vetoed."""
    g_labels = np.array([0] * 40 + [1] * 60)
    g_parent = np.array([True] * 20 + [False] * 20 + [True] * 30 + [False] * 30)
    g_after = np.array([True] * 4 + [False] * 36 + [True] * 60)  # class 0: 50 % → 10 %; class 1: 50 % → 100 %
    l_labels = np.zeros(12, dtype=int)
    l_parent, l_after = np.arange(12) < 7, np.arange(12) < 1  # 7 of 12 right → 1 of 12
    verdict = judge(
        evaluation(g_parent, g_labels),
        evaluation(g_after, g_labels),
        evaluation(l_parent, l_labels),
        evaluation(l_after, l_labels),
        TOL,
    )
    assert verdict.accept, verdict.reason
    g_kept = np.array([True] * 20 + [False] * 20 + [True] * 60)  # class 0 unchanged on G
    verdict = judge(
        evaluation(g_parent, g_labels),
        evaluation(g_kept, g_labels),
        evaluation(l_parent, l_labels),
        evaluation(l_after, l_labels),
        TOL,
    )
    assert (verdict.accept, verdict.reason) == (False, "local-accuracy")


def test_metrics_round_trip() -> None:
    metrics = VoteMetrics(0.953, 0.9, 0.94, 0.5, 0.123456, 2.5, 114, 28, "local-loss")
    word = metrics.encode()
    assert len(word) == 32
    decoded = VoteMetrics.decode(word)
    assert decoded.reason == "local-loss" and decoded.global_samples == 114
    assert decoded.global_accuracy == pytest.approx(0.953) and decoded.global_loss == pytest.approx(0.123456)
    with pytest.raises(ValueError):
        VoteMetrics.decode(b"\x00" * 32)
