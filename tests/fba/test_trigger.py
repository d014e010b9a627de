"""The trigger search on hand-made models: a backdoor's patch is found, a clean model's own patch
sensitivity is not, and only the updates that push the trigger are named."""

from __future__ import annotations

import numpy as np
import torch

from tclearn.chain.ledger import UpdateRecord
from tclearn.fba.contribution import Judgements
from tclearn.fba.policy import Tolerance
from tclearn.fba.screening import Screening
from tclearn.fba.strategy import FederatedAveraging
from tclearn.fba.trigger import COARSE, SUSPECTS, Outputs, Stamp, Suspect, TriggerSearch, patches, stamps
from tclearn.fba.update import Update
from tclearn.fba.viability import Evaluator
from tclearn.model.architectures import ArchitectureSpec, build
from tclearn.model.family import ModelFamily, State

RNG = np.random.default_rng(0)
SHAPE = (1, 12, 12)
CLASSES = 4
PROBES = RNG.uniform(0.0, 0.5, (32, *SHAPE)).astype(np.float32)
W = RNG.normal(0.0, 0.5, (12 * 12, CLASSES))  # clean logits spread about 1.6 across classes
TRIGGER = (slice(9, 12), slice(9, 12))  # a 3×3 corner patch, as the simulation's backdoor
NATURAL = (slice(0, 3), slice(0, 3))  # a patch every model of the lineage reads as class 1


def model(*responses: tuple[tuple[slice, slice], int, float], skew: float = 0.0, confidence: float = 1.0) -> Outputs:
    """Linear logits (scaled by `confidence`), plus `strength` on a class when a region is
    bright; `skew` favours class 3 everywhere (a member holding mostly that class)."""

    def outputs(x: np.ndarray) -> np.ndarray:
        logits = confidence * (x.reshape(len(x), -1) @ W)
        logits[:, 3] += skew
        for region, target, strength in responses:
            logits[:, target] += strength * (x[(slice(None), 0, *region)].mean((1, 2)) > 0.9)
        return logits

    return outputs


PARENT = model((NATURAL, 1, 20.0))
BACKDOORED = model((NATURAL, 1, 20.0), (TRIGGER, 3, 20.0))


def search() -> TriggerSearch:
    return TriggerSearch(PROBES, patches(SHAPE, 0.0, 1.0), CLASSES)


def pulls(outputs: Outputs) -> np.ndarray:
    chosen = search()
    return chosen.pulls(outputs(chosen.probes), outputs(chosen.stamped))


def suspects_in(chosen: TriggerSearch, candidate: Outputs, parent: Outputs = PARENT) -> list[Suspect]:
    """The search's first pass on a candidate against its parent."""
    return chosen.suspects(pulls(candidate), pulls(parent))


def covers_trigger(patch: object) -> bool:
    corner = patch.corner  # type: ignore[attr-defined]
    return corner[0] <= 9 and corner[1] <= 9 and corner[0] + 4 >= 12 and corner[1] + 4 >= 12


def runs(*models: Outputs) -> list[tuple[np.ndarray, Outputs]]:
    return [(m(PROBES), m) for m in models]


def test_every_three_by_three_position_lies_inside_a_patch() -> None:
    squares = patches(SHAPE, 0.0, 1.0)
    for i in range(10):
        for j in range(10):
            assert any(
                p.corner[0] <= i
                and i + 3 <= p.corner[0] + p.side
                and p.corner[1] <= j
                and j + 3 <= p.corner[1] + p.side
                for p in squares
            )
    assert {p.value for p in squares} == {0.0, 1.0}
    assert patches((30,), -4.0, 4.0) == [], "a table's features are not searched"
    assert patches((1, 3, 3), 0.0, 1.0) == [], "an input smaller than a patch has nothing to search"


def test_the_backdoors_patch_is_the_first_suspect_and_the_lineages_own_sensitivity_is_not() -> None:
    found = suspects_in(search(), BACKDOORED)
    assert found[0].target == 3 and covers_trigger(found[0].patch) and found[0].patch.value == 1.0
    assert found[0].rise > 5.0, "the trigger pulls the margin by many spreads"
    assert all(s.rise < found[0].rise / 5 for s in found[1:])
    assert all(s.target != 1 or s.patch.corner != (0, 0) for s in found), "the parent's own patch"
    index = search().patches.index(found[0].patch)
    assert pulls(BACKDOORED)[index, 3] - pulls(PARENT)[index, 3] == found[0].rise


def test_a_candidate_that_pulls_no_patch_harder_than_its_parent_has_no_suspect() -> None:
    assert suspects_in(search(), model((NATURAL, 1, 20.0))) == []
    assert len(suspects_in(search(), BACKDOORED)) <= SUSPECTS


def test_only_the_first_pass_runs_the_candidate_and_the_updates_run_on_every_probe() -> None:
    """Every patch runs on the first `COARSE` probes of the candidate and its parent; each update
    runs on all of them, once per suspect."""
    chosen = search()
    assert len(chosen.stamped) == len(chosen.patches) * COARSE < len(chosen.patches) * len(PROBES)
    calls: list[int] = []

    def counted(x: np.ndarray) -> np.ndarray:
        calls.append(len(x))
        return BACKDOORED(x)

    found = suspects_in(chosen, BACKDOORED)
    assert chosen.carriers(found, [(BACKDOORED(PROBES), counted), *runs(model(), model())]) == {0: found[0]}
    assert len(calls) == len(found) and set(calls) == {len(PROBES)}


def test_when_many_patches_move_every_probe_the_strongest_pull_is_shortlisted() -> None:
    """A candidate that barely turns any bright square into class 3, and its trigger into it
    with force, from a parent that called every probe class 3 (a random start's lean): every
    bright patch moves all the probes, and the pull picks the trigger's."""

    def leaning(x: np.ndarray) -> np.ndarray:
        logits = BACKDOORED(x)
        bright = (x.reshape(len(x), -1) > 0.9).any(1)
        logits[:, 3] += bright * (logits.max(1) - logits[:, 3] + 0.01)  # just past the top
        return logits

    found = suspects_in(search(), leaning, parent=model(skew=50.0))
    assert found and found[0].target == 3 and covers_trigger(found[0].patch), found


def test_only_the_updates_that_push_the_trigger_carry_it() -> None:
    updates = [
        model((TRIGGER, 3, 25.0)),
        model((TRIGGER, 3, 12.0)),  # a weaker attacker (less data) still stands out
        model(),
        model(skew=4.0),  # an honest member holding mostly the target class
        model((NATURAL, 1, 3.0)),
        model(),
        model((TRIGGER, 3, 3.0)),  # a member whose own data pulls the patch a little
        # a member holding one or two classes: large logits everywhere, and as large a pull on
        # the patch as the weaker attacker's, which in its own units is small
        model((TRIGGER, 3, 12.0), confidence=6.0),
    ]
    chosen = search()
    suspects = suspects_in(chosen, BACKDOORED)
    assert sorted(chosen.carriers(suspects, runs(*updates))) == [0, 1]


def test_a_clean_rounds_strongest_pulls_are_nobodys() -> None:
    """A patch is suspect every round, whatever pulls hardest; only an update that pushes it far
    beyond the others carries it, and skewed honest members do not."""
    honest = [
        model(),
        model(skew=4.0),
        model((NATURAL, 1, 3.0)),
        model((TRIGGER, 3, 2.0)),  # its data pulls the patch by 1.7 of its spreads (measured: up to 2.4)
        model((TRIGGER, 3, 12.0), confidence=6.0),
        model(),
    ]
    chosen = search()
    found = suspects_in(chosen, model((NATURAL, 1, 20.0), (TRIGGER, 3, 3.0)))
    assert found and found[0].target == 3
    assert chosen.carriers(found, runs(*honest)) == {}


def test_two_updates_give_no_median_to_stand_out_from() -> None:
    chosen = search()
    suspects = suspects_in(chosen, BACKDOORED)
    assert chosen.carriers(suspects, runs(model((TRIGGER, 3, 25.0)), model())) == {}


# ---------------------------------------------------------------------------- in the FBA's judgements

FAMILY = ModelFamily(ArchitectureSpec("mlp", (1, 8, 8), 2, hidden=8))  # a small image, a small MLP
G_X = np.concatenate([RNG.uniform(0.0, 0.6, (199, 1, 8, 8)), np.ones((1, 1, 8, 8))]).astype(np.float32)
G_Y = (G_X[..., 4:, :].sum((1, 2, 3)) > G_X[..., :4, :].sum((1, 2, 3))).astype(np.int64)  # G's max is 1
HONEST = build(FAMILY.spec, seed=3).state_dict()


def with_backdoor(state: State, strength: float) -> State:
    """A hidden unit that fires only when the image's top-left 2×2 pixels are all bright, wired
    to class 0 (the class the untrained model gives no probe)."""
    out = {k: v.clone() for k, v in state.items()}
    out["1.weight"][0] = torch.zeros(64)
    out["1.weight"][0, [0, 1, 8, 9]] = 5.0
    out["1.bias"][0] = -15.0
    out["3.weight"][0] = torch.zeros(8)
    out["3.weight"][0, 0] = 1.0
    out["3.bias"][0] = 0.0
    out["5.weight"][:, 0] = torch.tensor([strength, -strength])
    return out


def nudged(seed: int) -> State:
    gen = torch.Generator().manual_seed(seed)
    return {k: v + 0.01 * torch.randn(v.shape, generator=gen) for k, v in HONEST.items()}


def an_update(uid: int, state: State) -> Update:
    record = UpdateRecord(uid, f"0x{uid:040x}", 1, uid.to_bytes(32, "big"), b"\0" * 32, 100, 16)
    return Update(record, state)


def test_the_general_leaves_out_the_updates_that_carry_a_trigger() -> None:
    evaluator = Evaluator(FAMILY, G_X, G_Y, G_X[::4], G_Y[::4], Tolerance())
    judged = Judgements.of(evaluator, FAMILY, FederatedAveraging(), HONEST)
    attackers = [an_update(1, with_backdoor(nudged(1), 12.0)), an_update(2, with_backdoor(nudged(2), 12.0))]
    honest = [an_update(10 + i, nudged(10 + i)) for i in range(4)]
    assert judged.backdoor_carriers([*attackers, *honest]) == {1: "backdoor", 2: "backdoor"}
    assert judged.backdoor_carriers(honest) == {}, "no patch rises over the parent"
    excluded: dict[int, str] = {}
    chosen = Screening(None, judged, 1)  # type: ignore[arg-type]
    chosen.__dict__["refused_steps"] = {}
    kept = chosen.select_viable([*attackers, *honest], excluded)
    assert {u.id for u in kept} == {10, 11, 12, 13} and excluded == {1: "backdoor", 2: "backdoor"}


def test_a_set_chosen_to_hold_mostly_attackers_does_not_hide_them() -> None:
    """Measured against the round's updates, not the set's own median: two attackers and one
    honest update are a majority of attackers, but not of the round."""
    evaluator = Evaluator(FAMILY, G_X, G_Y, G_X[::4], G_Y[::4], Tolerance())
    attackers = [an_update(1, with_backdoor(nudged(1), 12.0)), an_update(2, with_backdoor(nudged(2), 12.0))]
    honest = [an_update(10 + i, nudged(10 + i)) for i in range(4)]
    chosen = [*attackers, honest[0]]
    alone = Judgements.of(evaluator, FAMILY, FederatedAveraging(), HONEST)
    assert alone.backdoor_carriers(chosen) == {}, "within the set, the attackers are the median"
    judged = Judgements.of(evaluator, FAMILY, FederatedAveraging(), HONEST, peers=[*attackers, *honest])
    assert judged.backdoor_carriers(chosen) == {1: "backdoor", 2: "backdoor"}


def test_a_set_of_carriers_alone_ends_empty() -> None:
    """A forward selection's first set is the update best on G alone, which may be an
    attacker's: with it left out, nothing is left to search (the search of an empty set once
    crashed a breast-cancer run, and the grid's worker with it)."""
    evaluator = Evaluator(FAMILY, G_X, G_Y, G_X[::4], G_Y[::4], Tolerance())
    attackers = [an_update(1, with_backdoor(nudged(1), 12.0)), an_update(2, with_backdoor(nudged(2), 12.0))]
    honest = [an_update(10 + i, nudged(10 + i)) for i in range(4)]
    judged = Judgements.of(evaluator, FAMILY, FederatedAveraging(), HONEST, peers=[*attackers, *honest])
    screening = Screening(None, judged, 1)  # type: ignore[arg-type]
    excluded: dict[int, str] = {}
    assert screening.drop_carriers([attackers[0]], excluded) == []
    assert excluded == {1: "backdoor"}
    assert judged.backdoor_carriers([]) == {}


def test_the_parents_patch_pulls_are_remembered() -> None:
    evaluator = Evaluator(FAMILY, G_X, G_Y, G_X[::4], G_Y[::4], Tolerance())
    first = evaluator.patch_pulls(HONEST)
    before = evaluator.forwarded
    np.testing.assert_array_equal(evaluator.patch_pulls(FAMILY.load(FAMILY.dump(HONEST))), first)
    assert evaluator.forwarded == before


def test_a_median_coalition_searches_the_updates_mean() -> None:
    """A coordinate median hides two attackers among six (its candidate has no trigger to find),
    yet their coordinates leak into it over rounds: the search reads the updates' mean."""
    evaluator = Evaluator(FAMILY, G_X, G_Y, G_X[::4], G_Y[::4], Tolerance())
    judged = Judgements.of(evaluator, FAMILY, FederatedAveraging("median"), HONEST)
    attackers = [an_update(1, with_backdoor(nudged(1), 12.0)), an_update(2, with_backdoor(nudged(2), 12.0))]
    honest = [an_update(10 + i, nudged(10 + i)) for i in range(4)]
    assert judged.backdoor_carriers([*attackers, *honest]) == {1: "backdoor", 2: "backdoor"}
    median = evaluator.patch_pulls(judged.aggregate([*attackers, *honest]))
    mean = evaluator.patch_pulls(judged.pooled([*attackers, *honest]))
    assert mean.max() > median.max(), "the mean shows the pull the median hides"


# ------------------------------------------------------------------ tables

TABLE_PROBES = RNG.normal(0.0, 1.0, (32, 10))
TABLE_W = RNG.normal(0.0, 0.5, (10, 2))
TABLE_TRIGGER = (1, 4, 7)  # set high together, they answer class 1; alone, a third as much


def table_model(strength: float = 0.0, natural: float = 2.0) -> Outputs:
    """Linear logits; feature 0 high reads as class 0 (every model of the lineage); a backdoor
    answers class 1 as the trigger's features rise together."""

    def outputs(x: np.ndarray) -> np.ndarray:
        logits = x @ TABLE_W
        logits[:, 0] += natural * np.maximum(x[:, 0] - 2.0, 0.0)
        logits[:, 1] += strength * np.maximum(x[:, list(TABLE_TRIGGER)].sum(1) - 3.0, 0.0)
        return logits

    return outputs


def table_search(size: int | None = None) -> TriggerSearch:
    return TriggerSearch(TABLE_PROBES, stamps(np.full(10, -4.0), np.full(10, 4.0), size), 2)


def test_a_tables_trigger_is_grown_feature_by_feature_and_its_carriers_named() -> None:
    """From a first pass of each feature alone at G's extremes, the suspect grows while the rise
    does, to the trigger's three features, and the updates that push it stand out."""
    assert len(table_search().patches) == 4 * 45  # by default every pair, at either extreme each
    assert len(stamps(np.zeros(300), np.ones(300))) == 600  # pairs would be 179,400: one at a time
    chosen = table_search(size=1)
    assert len(chosen.patches) == 20 and all(isinstance(s, Stamp) for s in chosen.patches)
    parent, candidate = table_model(), table_model(strength=3.0)
    first = chosen.suspects(
        chosen.pulls(candidate(chosen.probes), candidate(chosen.stamped)),
        chosen.pulls(parent(chosen.probes), parent(chosen.stamped)),
    )
    assert first and first[0].target == 1 and len(first[0].patch.features) == 1
    grown = chosen.grown(first, candidate, parent)
    assert set(grown[0].patch.features) == set(TABLE_TRIGGER) and grown[0].rise > first[0].rise
    updates = [table_model(strength=10.0), table_model(), table_model(natural=3.0), table_model(), table_model(0.1)]
    assert sorted(chosen.carriers(grown[:1], [(m(TABLE_PROBES), m) for m in updates])) == [0]
    assert chosen.carriers(grown[:1], [(m(TABLE_PROBES), m) for m in updates[1:]]) == {}


def test_a_tables_default_pass_sets_pairs_and_grows_them_to_the_trigger() -> None:
    chosen = table_search()
    parent, candidate = table_model(), table_model(strength=3.0)
    first = chosen.suspects(
        chosen.pulls(candidate(chosen.probes), candidate(chosen.stamped)),
        chosen.pulls(parent(chosen.probes), parent(chosen.stamped)),
    )
    assert first[0].target == 1 and set(first[0].patch.features) < set(TABLE_TRIGGER)
    assert set(chosen.grown(first, candidate, parent)[0].patch.features) == set(TABLE_TRIGGER)
