"""The screening rules on tiny hand-made models, without a chain: an update's integrity, its
contribution to an aggregate (leave-one-out), and what the general selects."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tclearn.chain.ledger import UpdateRecord
from tclearn.fba.contribution import Judgements, common_pull, harmful_updates, mislabels, stand_out
from tclearn.fba.integrity import Round, StepScale, intrinsic_check, step_size
from tclearn.fba.policy import Tolerance
from tclearn.fba.screening import Screening
from tclearn.fba.strategy import FederatedAveraging, Sequential, Strategy, declared_step
from tclearn.fba.trigger import COARSE
from tclearn.fba.update import Update, ids
from tclearn.fba.viability import Evaluator
from tclearn.model.architectures import ArchitectureSpec, build
from tclearn.model.family import ModelFamily, State
from tclearn.model.train import Evaluation, TrainConfig, train_local

FAMILY = ModelFamily(ArchitectureSpec("mlp", (2,), 2, hidden=4))
RNG = np.random.default_rng(0)
X = np.concatenate([RNG.normal(-1.5, 0.7, (150, 2)), RNG.normal(1.5, 0.7, (150, 2))]).astype(np.float32)
Y = np.array([0] * 150 + [1] * 150, dtype=np.int64)
PARENT: State = build(FAMILY.spec, seed=1).state_dict()
MEAN = FederatedAveraging()
EVALUATOR = Evaluator(FAMILY, X, Y, X[::3], Y[::3], Tolerance())


def trained(labels: np.ndarray, seed: int) -> State:
    model = FAMILY.module(PARENT)
    train_local(model, X, labels, TrainConfig(epochs=3, batch_size=16, learning_rate=0.1), 16, seed)
    return model.state_dict()


def update(uid: int, state: State, samples: int = 300, weights: bytes | None = None) -> Update:
    record = UpdateRecord(uid, f"0x{uid:040x}", 1, weights or uid.to_bytes(32, "big"), b"\0" * 32, samples, 16)
    return Update(record, state)


GOOD = [update(1, trained(Y, 1)), update(2, trained(Y, 2))]
POISON = update(3, trained(1 - Y, 3))  # every label flipped


def judgements(strategy: Strategy = MEAN) -> Judgements:
    return Judgements.of(EVALUATOR, FAMILY, strategy, PARENT)


def a_round(*updates: Update, typical: float | None = None) -> Round:
    """A round whose typical step is `typical` for 300 samples, growing as √batches."""
    steps = None if typical is None else StepScale(math.log(typical / math.sqrt(300 // 16)), 0.5)
    return Round(1, PARENT, frozenset({b"ancestor".ljust(32, b"\0")}), steps, {u.id: u.state for u in updates})


# ---------------------------------------------------------------------------- integrity


def test_an_honest_step_passes_integrity() -> None:
    good = GOOD[0]
    assert intrinsic_check(None, good.record, a_round(good)) == (None, good.state)  # type: ignore[arg-type]


def test_a_resubmitted_ancestor_is_a_replay() -> None:
    replay = update(4, GOOD[0].state, weights=b"ancestor".ljust(32, b"\0"))
    assert intrinsic_check(None, replay.record, a_round(replay))[0] == "replay"  # type: ignore[arg-type]


def test_the_parent_unchanged_is_a_free_ride() -> None:
    free = update(5, {k: v.clone() for k, v in PARENT.items()})
    assert intrinsic_check(None, free.record, a_round(free))[0] == "free-ride"  # type: ignore[arg-type]


def test_a_step_far_beyond_the_typical_step_for_its_batches_is_an_outlier() -> None:
    good = GOOD[0]
    typical = step_size(PARENT, good.state)
    scaled = update(6, {k: PARENT[k] + 20 * (good.state[k] - PARENT[k]) for k in PARENT})
    assert intrinsic_check(None, scaled.record, a_round(scaled, typical=typical))[0] == "outlier"  # type: ignore[arg-type]
    assert intrinsic_check(None, good.record, a_round(good, typical=typical))[0] is None  # type: ignore[arg-type]
    # the same step from a member claiming 400× the batches is not: steps grow as √batches
    many = update(7, scaled.state, samples=300 * 400)
    assert intrinsic_check(None, many.record, a_round(many, typical=typical))[0] is None  # type: ignore[arg-type]


def test_the_typical_step_grows_with_the_batches_as_the_round_shows() -> None:
    """A random walk (√batches) and a drift (batches) are both fitted; a scaled step stands out
    in either, and the fit holds within [½, 1] whatever a few points say."""
    walk = [(b, 0.1 * math.sqrt(b)) for b in (1, 4, 9, 30, 95)]
    drift = [(b, 0.1 * b) for b in (1, 1, 2, 4, 10)]
    for points, gamma in ((walk, 0.5), (drift, 1.0)):
        scale = StepScale.fit(points)
        assert scale is not None and scale.gamma == pytest.approx(gamma)
        assert all(step == pytest.approx(scale.typical(b)) for b, step in points)
    assert StepScale.fit([*walk, (9, 0.1 * 3 * 20)]).typical(9) == pytest.approx(0.3, rel=0.2)  # type: ignore[union-attr]
    assert StepScale.fit([(1, 1.0), (100, 1.0), (4, 1.0)]).gamma == 0.5  # type: ignore[union-attr]
    assert StepScale.fit(walk[:2]) is None


def test_an_unreadable_update_keeps_the_reason_it_was_refused() -> None:
    broken = update(8, GOOD[0].state)
    parent = Round(1, PARENT, frozenset(), None, {8: "architecture"})
    assert intrinsic_check(None, broken.record, parent) == ("architecture", None)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- contribution


def test_honest_updates_are_not_harmful_and_a_label_flipper_is() -> None:
    assert harmful_updates(judgements(), GOOD) == {}
    harmful = harmful_updates(judgements(), [*GOOD, POISON])
    assert list(harmful) == [POISON.id] and harmful[POISON.id].startswith("harmful-")


def test_one_update_alone_is_never_judged_by_contribution() -> None:
    assert harmful_updates(judgements(), [POISON]) == {}


def test_each_update_is_run_once_and_aggregates_are_judged_on_its_outputs(monkeypatch: pytest.MonkeyPatch) -> None:
    once = judgements()  # the parent's evaluations are made here
    calls: list[str] = []
    for name in ("on_global", "on_local", "screen_outputs"):
        real = getattr(Evaluator, name)
        monkeypatch.setattr(
            Evaluator, name, lambda self, state, real=real, name=name: calls.append(name) or real(self, state)
        )
    harmful_updates(once, [*GOOD, POISON])
    assert calls == ["screen_outputs"] * 4, "the parent and each update run once on the sample, no aggregate built"
    harmful_updates(once, [*GOOD, POISON])
    once.viability([*GOOD, POISON])
    once.viability([*GOOD, POISON])
    assert calls == ["screen_outputs"] * 4 + ["on_global", "on_local"], "only the judged set runs on G and L, once"


def test_an_update_that_neither_helps_nor_harms_stays() -> None:
    """Noise is not harm: a copy of an honest step adds nothing measurable but costs nothing."""
    twin = update(9, {k: v.clone() for k, v in GOOD[0].state.items()})
    assert harmful_updates(judgements(), [*GOOD, twin]) == {}


def test_the_screening_cost_is_linear_in_the_updates() -> None:
    """Runs on the sample: one per update and the parent's; on all of G and L: a constant."""
    counts = []
    for n in (3, 6):
        evaluator = Evaluator(FAMILY, X, Y, X[::3], Y[::3], Tolerance())
        judged = Judgements.of(evaluator, FAMILY, MEAN, PARENT)
        chosen = screening(judged=judged)
        updates = [update(10 + i, trained(Y, 10 + i)) for i in range(n - 1)] + [POISON]
        before = evaluator.forwarded
        chosen.select_viable(updates, {})
        full = len(Y) + len(Y[::3])
        counts.append((evaluator.forwarded - before) / full)
    sample_runs = [(n + 1) * min(len(Y), evaluator.screen_samples) / full for n in (3, 6)]
    # the trigger search, on each of the (at most two) sets the general judges: every stamp on
    # the first probes for the set's mean and its parent, and each update on the suspects (a
    # class each) on every probe (the table has two features: nothing to grow)
    search = evaluator.trigger
    searched = [2 * (2 * len(search.patches) * COARSE + n * 2 * len(search.probes)) / full for n in (3, 6)]
    assert all(count <= runs + search + 1 for count, runs, search in zip(counts, sample_runs, searched, strict=True))


def test_last_rounds_candidate_is_not_run_again_as_the_next_parent() -> None:
    evaluator = Evaluator(FAMILY, X, Y, X[::3], Y[::3], Tolerance())
    judged = Judgements.of(evaluator, FAMILY, MEAN, PARENT)
    candidate = judged.aggregate(GOOD)
    judged.of_aggregate(GOOD)  # the vote on this round's candidate
    before = evaluator.forwarded
    loaded = FAMILY.load(FAMILY.dump(candidate))  # the next round reads it back from the store
    parent = Judgements.of(evaluator, FAMILY, MEAN, loaded).parent
    assert [e.accuracy for e in parent] == [e.accuracy for e in judged.of_aggregate(GOOD)]
    assert evaluator.forwarded == before
    np.testing.assert_array_equal(evaluator.screen_outputs(loaded), evaluator.screen_outputs(candidate))
    assert evaluator.forwarded == before, "the screening sample is part of G: its outputs are a slice"
    changed = {k: v + 1e-3 for k, v in loaded.items()}
    Judgements.of(evaluator, FAMILY, MEAN, changed)
    assert evaluator.forwarded == before + len(Y) + len(Y[::3]), "other weights are evaluated afresh"


def screening(
    strategy: Strategy = MEAN,
    judged: Judgements | None = None,
    refused: dict[tuple[int, ...], float] | None = None,
) -> Screening:
    """The general's screening on `judged` (default: the strategy's on PARENT), with the sets the
    coalition refused on this parent (default: none yet)."""
    chosen = Screening(None, judged or judgements(strategy), 1)  # type: ignore[arg-type]
    chosen.__dict__["refused_steps"] = refused or {}
    return chosen


def test_the_general_drops_the_poison_and_keeps_the_honest_updates() -> None:
    excluded: dict[int, str] = {}
    kept = screening().select_viable([*GOOD, POISON], excluded)
    assert [u.id for u in kept] == [1, 2]
    assert set(excluded) == {POISON.id}


def test_sequential_learning_proposes_the_oldest_viable_update_and_says_why_the_others_wait() -> None:
    strategy = Sequential()
    chosen = screening(strategy)
    excluded: dict[int, str] = {}
    assert strategy.select(chosen, [POISON, *GOOD], excluded) == [GOOD[0]]
    assert excluded == {POISON.id: "degrades-parent"} and chosen.step == 1.0


def test_sequential_learning_passes_over_a_refused_update_while_another_is_viable() -> None:
    strategy = Sequential()
    chosen = screening(strategy)
    chosen.__dict__["refused_steps"] = {(GOOD[0].id,): 1.0}
    excluded: dict[int, str] = {}
    assert strategy.select(chosen, [*GOOD], excluded) == [GOOD[1]] and chosen.step == 1.0
    assert excluded == {GOOD[0].id: "in-rejected-candidate"}


def test_sequential_learning_takes_a_shorter_step_only_once_three_updates_degrade_the_head() -> None:
    """Members whose data pull a good model far toward their classes: each whole step degrades
    the head, a shorter one does not (without shorter steps such a coalition stalled: breast
    cancer, every honest member's step refused from round 6 on). A shorter step also dilutes a
    poisoned one, so it is taken only when three updates on the head all degrade it."""
    parent = GOOD[0].state
    steps = near_copies(parent, POISON.state, 0.5, 40)[:3]
    judged = Judgements.of(EVALUATOR, FAMILY, Sequential(), parent)
    assert not any(judged.viability([u]).accept for u in steps)
    for waiting in (steps[:1], steps[:2]):
        excluded: dict[int, str] = {}
        assert Sequential().select(screening(judged=judged), waiting, excluded) == []
        assert excluded == dict.fromkeys(ids(waiting), "degrades-parent")
    chosen = screening(judged=judged)
    assert Sequential().select(chosen, steps, {}) == steps[:1] and chosen.step in (0.5, 0.25)
    refused = screening(judged=judged, refused={(steps[0].id,): chosen.step})  # refused at that step
    picked = Sequential().select(refused, steps, {})
    assert (picked == steps[:1] and refused.step < chosen.step) or picked == steps[1:2]


def test_a_members_newer_sequential_update_on_the_same_head_supersedes_its_older_one() -> None:
    older = update(7, GOOD[0].state)
    newer = Update(UpdateRecord(8, older.record.member, 1, b"8".ljust(32, b"\0"), b"\0" * 32, 300, 16), GOOD[1].state)
    excluded: dict[int, str] = {}
    assert Sequential().select(screening(Sequential()), [older, newer], excluded) == [newer]
    assert excluded == {older.id: "superseded"}


def test_the_aggregate_is_the_rule_applied_to_the_chosen_updates() -> None:
    mean = judgements().aggregate(GOOD)
    for name in PARENT:
        expected = (GOOD[0].state[name] + GOOD[1].state[name]) / 2
        assert torch.allclose(mean[name], expected, atol=1e-6)


def near_copies(parent: State, toward: State, share: float, first_id: int) -> list[Update]:
    """Four members' steps, each `share` of the way from `parent` to `toward`, a hair apart."""
    out = []
    for i in range(4):
        gen = torch.Generator().manual_seed(first_id + i)
        noise = {k: 0.01 * torch.randn(v.shape, generator=gen) for k, v in parent.items()}
        out.append(update(first_id + i, {k: parent[k] + share * (toward[k] - parent[k]) + noise[k] for k in parent}))
    return out


def test_a_set_whose_full_step_degrades_its_parent_goes_in_whole_at_a_shorter_step() -> None:
    """An aggregate that overshoots its parent for a round keeps every member's work at half or
    a quarter of its step, rather than leaving members out; near-copies are not harmful to each
    other by a hair of loss."""
    parent = GOOD[0].state
    updates = near_copies(parent, POISON.state, 0.5, 40)
    judged = Judgements.of(EVALUATOR, FAMILY, MEAN, parent)
    assert not judged.viability(updates).accept and not judged.viability(updates, 0.5).accept
    assert harmful_updates(judged, updates) == {}
    chosen = screening(judged=judged)
    excluded: dict[int, str] = {}
    assert chosen.select_viable(updates, excluded) == updates and excluded == {}
    assert chosen.step == 0.25
    candidate = FAMILY.to_arrays(judged.aggregate(updates, 0.25))
    full, before = FAMILY.to_arrays(judged.aggregate(updates)), FAMILY.to_arrays(parent)
    for c, f, p in zip(candidate, full, before, strict=True):
        np.testing.assert_allclose(c, p + 0.25 * (f - p), rtol=1e-5, atol=1e-6)


def test_a_set_no_step_saves_is_not_proposed() -> None:
    parent = GOOD[0].state
    judged = Judgements.of(EVALUATOR, FAMILY, MEAN, parent)
    chosen = screening(judged=judged)
    excluded: dict[int, str] = {}
    assert chosen.select_viable(near_copies(parent, POISON.state, 1.0, 50), excluded) == []
    assert set(excluded.values()) == {"degrades-parent"}


def test_a_set_the_coalition_refused_is_tried_again_at_a_shorter_step() -> None:
    """Validators judge on their own L: a set refused at one step is proposed again, whole, at
    the next shorter step the general finds viable, and only then loses its newest update."""
    parent = GOOD[0].state
    updates = near_copies(parent, POISON.state, 0.3, 60)
    chosen = Screening(None, Judgements.of(EVALUATOR, FAMILY, MEAN, parent), 1)  # type: ignore[arg-type]
    key = tuple(u.id for u in updates)
    for refused, retried in ((1.0, 0.5), (0.5, 0.25), (0.25, None)):
        chosen.__dict__["refused_steps"] = {key: refused}
        assert chosen.retry_step(updates) == retried
    chosen.__dict__["refused_steps"] = {}
    assert chosen.retry_step(updates) == chosen.step == 1.0, "a set never refused keeps its step"


def test_only_the_coalitions_steps_are_read_from_a_candidates_metadata() -> None:
    assert [declared_step(m) for m in ({}, {"step": 0.5}, {"step": 1}, {"step": 0.25})] == [1.0, 0.5, 1.0, 0.25]
    assert [declared_step({"step": s}) for s in (0.3, "0.5", None, [0.5], 0)] == [None] * 5


def test_harm_is_what_stands_out_from_the_pull_every_skewed_member_has() -> None:
    """Leaving any one of eight skewed members out gains the aggregate 3–5 points: that is the
    common pull, not harm. Leaving the ninth out gains 20: that stands out."""
    labels = np.zeros(200, dtype=np.int64)

    def scored(right: int, loss: float = 1.0) -> Evaluation:
        return Evaluation(np.arange(200) < right, np.full(200, loss), labels, 2)

    full = scored(100)
    common = [scored(106 + i % 3 * 2, loss=0.99) for i in range(8)]
    assert stand_out(full, common) == [False] * 8
    assert stand_out(full, [*common, scored(140)]) == [False] * 8 + [True]
    assert stand_out(full, [*common, scored(100, loss=0.5)])[-1], "in loss"
    assert stand_out(full, common[:4]) == [True] * 4, "too few to tell what is common"


def test_a_common_pull_is_most_updates_worse_alone_than_their_parent() -> None:
    """Skewed members are each worse alone; on IID data the poisoners are, and fewer than a
    third of the updates can be theirs."""
    assert common_pull([True] * 6 + [False] * 4)
    assert not common_pull([True] * 2 + [False] * 4), "two poisoners among six"
    assert not common_pull([True] * 3 + [False] * 3), "half is not most"
    assert not common_pull([True] * 4), "too few to tell what is common"


def test_an_update_that_pushes_classes_onto_other_classes_samples_mislabels() -> None:
    """Ten classes, 50 samples each, the parent right on half of every class. A flipper that
    learnt 9 → 0, 8 → 1 and lost 0 and 1 on their own samples predicts 0 and 1 twice as often,
    on samples of other classes. An honest member holding 0 and 1 predicts them more often on
    their own samples. With two classes the test says nothing (a skewed honest push gains no
    true positives either), nor does a push too small to read."""
    labels = np.repeat(np.arange(10), 50)
    parent = np.where(np.arange(500) % 50 < 25, labels, (labels + 1) % 10)
    flipper = parent.copy()
    flipper[np.isin(labels, (9, 1))] = 0
    flipper[np.isin(labels, (8, 0))] = 1
    honest = parent.copy()
    honest[labels <= 1] = labels[labels <= 1]
    assert mislabels(parent, flipper, labels, 10)
    assert not mislabels(parent, honest, labels, 10)
    assert not mislabels(parent, parent, labels, 10), "no push"
    small = parent.copy()  # 20 extra predictions of 0 and 1 (4 % of the sample), 20 of their hits lost
    right = parent == labels
    small[(labels == 5) & right & (np.arange(500) % 50 < 10)] = 0
    small[(labels == 5) & right & (np.arange(500) % 50 >= 10) & (np.arange(500) % 50 < 20)] = 1
    small[(labels == 0) & right & (np.arange(500) % 50 < 10)] = 1
    small[(labels == 1) & right & (np.arange(500) % 50 < 10)] = 0
    assert not mislabels(parent, small, labels, 10)
    assert mislabels(parent[:300], small[:300], labels[:300], 10), "the same push is 7 % of classes 0 to 5"
    two = labels % 2
    assert not mislabels(two, 1 - two, two, 2), "two classes: not applied"


def test_a_label_flipper_among_skewed_honest_members_is_named_for_its_mislabels() -> None:
    """Three classes; the flipper holds 0 (labelled 2), 1 and a fifth of 2 (labelled 0): its
    model predicts 2 for 0's samples and 0 for 2's. However the aggregate looks without it, it
    is left out as `harmful-mislabels`, and no honest member is."""
    family = ModelFamily(ArchitectureSpec("mlp", (2,), 3, hidden=8))
    rng = np.random.default_rng(3)
    centres = np.array([[-2.0, 0.0], [2.0, 0.0], [0.0, 2.5]])
    x = np.concatenate([rng.normal(c, 0.8, (120, 2)) for c in centres]).astype(np.float32)
    y = np.repeat(np.arange(3), 120).astype(np.int64)
    model = family.module(build(family.spec, seed=1).state_dict())
    train_local(model, x, y, TrainConfig(epochs=1, batch_size=16, learning_rate=0.05), 16, 0)
    parent = model.state_dict()
    evaluator = Evaluator(family, x, y, x[::3], y[::3], Tolerance())

    def member(uid: int, labels: np.ndarray, rows: np.ndarray) -> Update:
        model = family.module(parent)
        train_local(model, x[rows], labels[rows], TrainConfig(epochs=3, batch_size=16, learning_rate=0.1), 16, uid)
        return update(uid, model.state_dict(), samples=int(rows.sum()))

    flipper = member(9, 2 - y, (y != 2) | (rng.random(len(y)) < 0.2))
    honest = [member(i, y, (y == i % 3) | (rng.random(len(y)) < 0.3)) for i in range(1, 6)]
    harmful = harmful_updates(Judgements.of(evaluator, family, MEAN, parent), [*honest, flipper])
    assert harmful == {flipper.id: "harmful-mislabels"}
