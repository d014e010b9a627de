"""The engine's steps meet a ledger that says no: a window closed, a vote too late. Each is an
outcome, the round goes on, in the simulation and in a daemon alike."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tclearn.chain.backends import connect
from tclearn.chain.ledger import BlockState
from tclearn.engine.phases import Phases
from tclearn.engine.schedule import settle_round
from tclearn.engine.steps import validator_pass
from tclearn.fba.viability import Check
from tclearn.nodes import daemon
from tclearn.simulate import Simulation, SimulationConfig
from tclearn.store import open_store

pytestmark = pytest.mark.slow


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Simulation]:
    chain = connect("inprocess:memory")
    yield Simulation(SimulationConfig(members=4, validators=4, rounds=3), chain, open_store("local", tmp_path))
    chain.close()


class SlowFirstScreening(Phases):
    """A general whose first screening outlasts the proposal window (400 s of chain time)."""

    def __init__(self, sim: Simulation) -> None:
        self.sim, self.slow = sim, True

    @contextmanager
    def __call__(self, phase: str) -> Iterator[None]:
        yield
        if phase == "candidate" and self.slow:
            self.slow = False
            self.sim.chain.advance_time(400)


def test_a_general_whose_screening_outlasts_its_window_is_replaced_and_the_round_goes_on(sim: Simulation) -> None:
    sim.phases = SlowFirstScreening(sim)
    record = sim.play_round(1)
    assert record.outcome == "final" and record.block == 2
    assert sim.ctx.ledger.contract.events.GeneralTimedOut.get_logs(from_block=0), "the silent general was redrawn"
    assert [r.outcome for r in (sim.play_round(2), sim.play_round(3))] == ["final", "final"]


def test_the_refused_proposal_is_an_outcome_of_the_sweep(sim: Simulation) -> None:
    sim.phases = SlowFirstScreening(sim)
    for index in range(4):
        sim.submit(index, 1, seed=index)
    settled = settle_round(sim.chain, sim.ctx.ledger, sim.roles, sim.phases)
    actions = [o.action for o in settled.outcomes]
    refused = next(o for o in settled.outcomes if o.action == "refused")
    assert "ProposalWindowClosed" in refused.detail
    assert actions.index("refused") < actions.index("redrawn") < actions.index("proposed")
    assert settled.how == "closed" and sim.ctx.ledger.cursor().head == settled.block


def test_a_daemon_whose_vote_comes_after_the_block_closed_misses_it_and_runs_on(sim: Simulation) -> None:
    for index in range(4):
        sim.submit(index, 1, seed=index)
    late, others = sim.roles[0], sim.roles[1:]
    sim.chain.advance_time(sim.config.rules().gather_s)  # the general's gathering window passes
    for role in others:  # the general among them proposes
        validator_pass(role)
    block = sim.ctx.ledger.cursor().open
    assert block, "a candidate is open"
    checking = late.voter.check

    def check_while_the_others_finish(block_id: int) -> Check:
        verdict = checking(block_id)
        for role in others:
            validator_pass(role)
        assert sim.ctx.ledger.block(block_id).state is BlockState.FINAL
        return verdict

    late.voter.check = check_while_the_others_finish  # type: ignore[method-assign]
    daemon.run(late, poll_s=0.1, once=True)  # the ledger refuses the vote: no exception
    assert late.voter.state.missed == [block] and late.voter.state.in_flight is None
    assert str(block) not in late.voter.state.voted
    late.voter.check = checking  # type: ignore[method-assign]
    assert validator_pass(late) is None, "a missed block is not checked again"


def test_the_general_gathers_updates_for_the_coalitions_window_before_it_proposes(sim: Simulation) -> None:
    ledger = sim.ctx.ledger
    sim.submit(0, 1, seed=0)
    drawn = next(r for r in sim.roles if r.general and r.general.account.address == ledger.current_round().general)
    waiting = validator_pass(drawn)
    assert waiting is not None and waiting.action == "gathering"
    assert int(waiting.detail) == ledger.first_update_time(1) + sim.config.rules().gather_s
    for index in range(1, 4):  # the others' updates arrive within the window
        sim.submit(index, 1, seed=index)
    settled = settle_round(sim.chain, ledger, sim.roles, sim.phases)
    assert settled.how == "closed" and settled.proposal is not None
    proposed = set(settled.proposal.candidate.update_ids) | set(settled.excluded)  # type: ignore[union-attr]
    assert proposed == {1, 2, 3, 4}, "every update of the window was screened, not the first alone"
