"""The protocol end to end on the in-process EVM and embedded store: members, general, validators."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from tclearn import simulate
from tclearn.chain.backends import connect
from tclearn.chain.ledger import BlockState
from tclearn.errors import ChainError
from tclearn.fba import records
from tclearn.fba.context import CoalitionContext
from tclearn.fba.contribution import Judgements
from tclearn.fba.integrity import read_round
from tclearn.fba.propose import Candidate, build_candidate, propose
from tclearn.fba.strategy import FederatedAveraging, Unscreened
from tclearn.fba.update import Update
from tclearn.fba.vote import Voter
from tclearn.model.weights import sha256
from tclearn.simulate import Simulation, SimulationConfig, run_simulation
from tclearn.store import open_store
from tclearn.store.cid import cid_v0

pytestmark = pytest.mark.slow  # end to end: whole coalitions train


def small(**overrides: object) -> SimulationConfig:
    return SimulationConfig(**{"members": 4, "validators": 4, "rounds": 3, **overrides})


@pytest.fixture
def sim(tmp_path: Path) -> Simulation:
    return Simulation(small(), connect("inprocess:memory"), open_store("local", tmp_path))


def test_honest_rounds_are_accepted_and_learn() -> None:
    result = run_simulation(small(rounds=4))
    assert result.accepted == 4 and result.rejected == 0
    assert result.head == 5
    assert result.final_accuracy > 0.85
    assert result.history[-1].global_accuracy == result.final_accuracy
    assert all(r.contributors for r in result.history)


@pytest.mark.parametrize("attack", ["noise", "label-flip", "free-ride", "replay"])
def test_attackers_never_reach_a_final_block(attack: str) -> None:
    result = run_simulation(small(attack=attack, attackers=1))
    assert result.attacks_proposed == 3
    assert result.attacks_accepted == 0
    assert result.accepted == 3, "the honest updates still make progress"


def test_without_the_fba_poison_gets_in() -> None:
    result = run_simulation(small(attack="noise", attackers=1, fba=False))
    assert result.attacks_accepted == 3


def test_a_general_that_skips_screening_is_outvoted(sim: Simulation) -> None:
    ledger = sim.ctx.ledger
    honest = [sim.submit(i, 1, seed=i) for i in (1, 2, 3)]
    sim.config = small(attack="noise", attackers=1)
    poisoned = sim.submit(0, 1, seed=9)
    general = sim.coalition.general()
    bad = build_candidate(sim.ctx, sim.evaluators[general.address], Unscreened(sim.strategy)).candidate
    assert bad is not None and poisoned in bad.update_ids
    block = propose(sim.ctx, general, bad)
    for voter in sim.voters:
        if ledger.block(block).state is BlockState.PENDING:
            assert not voter.vote(block).accept
    assert ledger.block(block).state is BlockState.REJECTED
    assert ledger.cursor().head == 1

    general = sim.coalition.general()
    good = build_candidate(sim.ctx, sim.evaluators[general.address], sim.strategy).candidate
    assert good is not None and good.update_ids == honest
    assert good.excluded[poisoned] != "ok"
    block = propose(sim.ctx, general, good)
    for voter in sim.voters:
        if ledger.block(block).state is BlockState.PENDING:
            voter.vote(block)
    assert ledger.cursor().head == block


def test_stored_bytes_that_do_not_match_the_chain_are_voted_down(sim: Simulation, tmp_path: Path) -> None:
    for i in range(4):
        sim.submit(i, 1, seed=i)
    general = sim.coalition.general()
    candidate = build_candidate(sim.ctx, sim.evaluators[general.address], sim.strategy).candidate
    assert candidate is not None
    block = propose(sim.ctx, general, candidate)
    stored = next(tmp_path.rglob(candidate.cid))
    stored.write_bytes(stored.read_bytes()[:-4] + b"\x00\x00\x80\x7f")  # one weight becomes +inf
    check = sim.voters[0].vote(block)
    assert (check.accept, check.reason) == (False, "integrity")
    assert cid_v0(stored.read_bytes()) != candidate.cid


def test_a_validator_restarted_mid_vote_neither_double_votes_nor_loses_its_secret(
    sim: Simulation, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = sim.ctx.ledger
    validator = sim.coalition.validators[0]
    evaluator = sim.evaluators[validator.address]
    state = tmp_path / "voter.json"

    def play(round_seed: int) -> int:
        for i in range(4):
            sim.submit(i, ledger.cursor().head, seed=round_seed + i)
        general = sim.coalition.general()
        candidate = build_candidate(sim.ctx, sim.evaluators[general.address], sim.strategy).candidate
        assert candidate is not None
        return propose(sim.ctx, general, candidate)

    first = play(0)
    voter = Voter(sim.ctx, validator, evaluator, sim.strategy, state)

    # Killed after the vote landed but before the daemon wrote it down.
    def crash(*_: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(Voter, "_landed", crash)
    with pytest.raises(KeyboardInterrupt):
        voter.vote(first)
    monkeypatch.undo()
    restarted = Voter(sim.ctx, validator, evaluator, sim.strategy, state)
    assert restarted.state.voted == {str(first): True} and restarted.state.in_flight is None
    assert restarted.pending_block() is None
    for other in sim.voters[1:]:
        if ledger.block(first).state is BlockState.PENDING:
            other.vote(first)
    assert ledger.cursor().head == first

    # Killed before the vote was sent (the chain unreachable): the restarted daemon votes once,
    # revealing the secret it committed in the first vote.
    second = play(100)
    failing = Voter(sim.ctx, validator, evaluator, sim.strategy, state)
    monkeypatch.setattr(type(ledger), "vote", lambda *a, **k: (_ for _ in ()).throw(ChainError("unreachable")))
    with pytest.raises(ChainError):
        failing.vote(second)
    monkeypatch.undo()
    again = Voter(sim.ctx, validator, evaluator, sim.strategy, state)
    assert again.pending_block() == second
    again.vote(second)
    assert ledger.has_voted(second, validator.address)
    withheld = ledger.contract.events.RevealWithheld.get_logs(from_block=0)
    assert not withheld, "the restarted validator revealed its committed secret"


def test_on_a_dirichlet_0_1_split_honest_steps_pass_and_poison_fails() -> None:
    """Members and validators' L hold mostly one class each: the vote rule must still tell."""
    honest = run_simulation(small(members=6, rounds=4, alpha=0.1))
    assert honest.accepted >= 2 and honest.final_accuracy > 0.9
    heads = [r.global_accuracy for r in honest.history]
    assert all(b >= a - 0.02 for a, b in itertools.pairwise(heads)), "the head never got worse"
    attacked = run_simulation(small(members=6, rounds=4, alpha=0.1, attack="noise", attackers=2))
    assert attacked.attacks_proposed == 8 and attacked.attacks_accepted == 0
    assert attacked.accepted >= 2 and attacked.final_accuracy > attacked.history[0].global_accuracy


def test_on_a_dirichlet_0_5_split_sign_flippers_stay_out_and_learning_goes_on() -> None:
    """A flipped step can look better than a random start on accuracy while its loss soars, and
    pruning alone once ended with no viable set (the coalition stalled at 0.80): the general's
    forward selection finds one, and every round makes a block."""
    result = run_simulation(SimulationConfig(rounds=8, alpha=0.5, attack="sign-flip", attackers=2))
    assert result.attacks_proposed == 16 and result.attacks_accepted == 0
    assert [r.outcome for r in result.history] == ["final"] * 8
    assert result.final_accuracy > 0.95


def test_the_centralized_reference_trains_as_many_epochs_as_each_members_data_got(
    sim: Simulation, monkeypatch: pytest.MonkeyPatch
) -> None:
    epochs: list[int] = []
    monkeypatch.setattr(simulate, "train_local", lambda model, x, y, config, *rest: epochs.append(config.epochs))
    monkeypatch.setattr(simulate, "_CENTRALIZED", {})  # nothing remembered from other tests' runs
    sim.config = small(rounds=12, learning="sequential")  # each of 4 members trained 3 times
    sim.centralized_accuracy()
    sim.config = small(rounds=3)  # every member trained in each of 3 rounds
    sim.centralized_accuracy()
    assert epochs == [6, 6]
    sim.config = small(rounds=3, attack="noise", attackers=1)
    sim.centralized_accuracy()
    assert epochs == [6, 6], "remembered: an attack does not change the reference"


def test_a_member_refused_for_outliers_is_suspended_until_its_record_clears(
    sim: Simulation, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(records, "STRIKE_WINDOW", 4)
    sim.config = small(attack="scale", attackers=1)
    attacker = sim.coalition.members[0].address

    def member_zero_fate(number: int) -> str:
        return sim.play_round(number).excluded.get(0, "in the block")

    assert [member_zero_fate(n) for n in (1, 2, 3, 4)] == ["outlier"] * 4
    assert records.strikes(sim.ctx, attacker, sim.ctx.ledger.cursor().head) == 4

    # A late outlier registered on an old parent changes no closed round's record.
    sim.submit(0, 2, seed=77)
    fresh = CoalitionContext(sim.ctx.ledger, sim.ctx.store, sim.family)
    assert records.strikes(fresh, attacker, sim.ctx.ledger.cursor().head) == 4

    sim.config = small()  # member 0 turns honest: still suspended while 3 strikes are in the window
    assert member_zero_fate(5) == "suspended"
    assert member_zero_fate(6) == "suspended"
    assert member_zero_fate(7) not in ("suspended", "outlier")
    assert sim.ctx.ledger.cursor().head == 8, "every round made progress"


def test_a_candidate_made_by_another_rule_than_the_coalitions_is_refused(sim: Simulation) -> None:
    for i in range(4):
        sim.submit(i, 1, seed=i)
    general = sim.coalition.general()
    other = build_candidate(sim.ctx, sim.evaluators[general.address], FederatedAveraging("median")).candidate
    assert other is not None
    block = propose(sim.ctx, general, other)
    verdict = sim.voters[0].vote(block)
    assert (verdict.accept, verdict.reason) == (False, "integrity")


@pytest.mark.parametrize(("declared", "accepted"), [(0.5, True), (1.0, False), (0.3, False)])
def test_a_shorter_step_is_accepted_only_as_declared(sim: Simulation, declared: float, accepted: bool) -> None:
    """A candidate half-way to its updates' aggregate passes when its metadata says so; the same
    bytes declared as the full step, or a step the coalition does not take, are refused."""
    updates = [sim.submit(i, 1, seed=i) for i in range(4)]
    general = sim.coalition.general()
    ctx, evaluator = sim.ctx, sim.evaluators[general.address]
    parent = read_round(ctx, 1, ctx.ledger.updates_on(1))
    chosen = [Update(ctx.ledger.update_record(u), parent.loaded[u]) for u in updates]  # type: ignore[arg-type]
    data = ctx.family.dump(Judgements.of(evaluator, ctx.family, sim.strategy, parent.state).aggregate(chosen, 0.5))
    metadata = ctx.put_json(sim.strategy.metadata(updates, {}, declared))
    block = propose(ctx, general, Candidate(1, updates, sha256(data), ctx.store.put(data), metadata, {}))
    verdict = sim.voters[0].vote(block)
    assert (verdict.accept, verdict.reason) == ((True, "ok") if accepted else (False, "integrity"))
