"""Mode C with a member whose node died: the others' masks are corrected for it, and the
coalition goes on. Secure aggregation without a dropout path stalls on the first dead member."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import numpy as np
import pytest

from tclearn.audit.history import History
from tclearn.audit.verify import verify
from tclearn.chain.backends import connect
from tclearn.engine.steps import Pending
from tclearn.errors import TransactionReverted
from tclearn.he.ckks import HEError
from tclearn.he.general import EncryptedProposer
from tclearn.he.records import AGGREGATE, CORRECTION
from tclearn.he.simulation import EncryptedSimulation
from tclearn.simulate import SimulationConfig
from tclearn.store import open_store

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run():
    scratch = Path(tempfile.mkdtemp(prefix="tclearn-mode-c-dropout-"))
    chain = connect("inprocess:memory")
    config = SimulationConfig(mode="C", rounds=3, members=3, validators=3, seed=1, drop_member_at=2)
    simulation = EncryptedSimulation(config, chain, open_store("local", scratch / "store"), scratch)
    result = simulation.run()
    yield simulation, result
    chain.close()


def test_the_coalition_goes_on_without_the_dead_member(run) -> None:
    simulation, result = run
    assert [r.outcome for r in result.history] == ["final"] * 3
    assert [r.contributors for r in result.history] == [[0, 1, 2], [0, 1], [0, 1]]
    # the head is exactly the present members' aggregate: every mask cancelled or corrected
    head = simulation.supervisor.head_weights(simulation.ctx.ledger.cursor().head)
    assert np.abs(head - simulation.twin).max() < 1e-3
    assert result.final_accuracy == result.plaintext_accuracy
    # an auditor finds every record in order: masked updates, closed rosters, corrections
    audited = verify(History.read(simulation.ctx.ledger), simulation.ctx.store)
    assert audited.ok, audited.problems


def test_each_aggregate_names_the_absent_and_their_corrections(run) -> None:
    simulation, _ = run
    records, dead = simulation.records, simulation.coalition.members[-1].address
    aggregates = [r for r in records.requests(AGGREGATE) if r.answer is not None]
    assert len(aggregates) == 3
    first, *later = (records.get_json(r.cid_digest) for r in aggregates)
    assert first["absent"] == [] and first["corrections"] == []
    for request, asked in zip(aggregates[1:], later, strict=True):
        assert asked["absent"] == [dead] and len(asked["corrections"]) == 2
        filed = {c.id: c for c in records.requests(CORRECTION)}
        corrections = [filed[i] for i in asked["corrections"]]
        assert {c.requester for c in corrections} == {m.address for m in simulation.coalition.members[:2]}
        assert all(records.get_json(c.answer.answer_cid_digest)["filed"] for c in corrections)
        # the supervisor's record names everything it decrypted: the updates, then the corrections
        read = [simulation.ctx.ledger.update_record(u).weights_hash for u in asked["updates"]]
        for correction in corrections:
            document = records.get_json(correction.cid_digest)
            read.append(bytes.fromhex(document["correction_hash"]))
        assert request.answer.input_hash == hashlib.sha256(b"".join(read)).digest()


def test_once_the_roster_closes_the_absent_can_never_join(run) -> None:
    """The general closes the attempt's roster; the dead member's late update is refused on
    chain, so the masks the others reveal can never expose it. A present member files its
    correction once; the general waits for every present member's."""
    simulation, _ = run
    ledger = simulation.ctx.ledger
    while simulation.supervisor.pass_() is not None:  # the new head's copies
        pass
    parent = ledger.cursor().head
    for member in simulation.members[:2]:
        member.submit(parent)
    general = next(v for v in simulation.coalition.validators if v.address == ledger.current_round().general)
    assert simulation.members[0].correct() is None  # the roster is open: nothing to reveal
    ledger.close_roster(general)
    with pytest.raises(HEError, match="roster-closed"):  # its node says so before it trains
        simulation.members[2].submit(parent)
    with pytest.raises(TransactionReverted, match="RosterIsClosed"):  # and the ledger refuses it
        ledger.register_masked_update(
            simulation.coalition.members[2], parent, ledger.current_round(), b"\x01" * 32, b"\x02" * 32, 64, 64
        )
    filed = simulation.members[0].correct()
    assert filed is not None and filed.action == "correction-filed"
    assert simulation.members[0].correct() is None  # once
    proposer = EncryptedProposer(simulation.records, general)
    with pytest.raises(Pending, match="corrections from 1 of 2"):
        proposer(simulation.ctx, simulation.roles[0].voter)


def test_a_lone_survivor_reveals_nothing(run) -> None:
    """With one member of three present, the sum would be its update: it files no correction,
    and the general proposes nothing."""
    simulation, _ = run
    ledger = simulation.ctx.ledger
    simulation.chain.advance_time(ledger.current_round().deadline + 1 - ledger.chain.now())
    ledger.redraw(simulation.coalition.validators[0])  # a new attempt, its roster open
    simulation.members[0].submit(ledger.cursor().head)
    general = next(v for v in simulation.coalition.validators if v.address == ledger.current_round().general)
    ledger.close_roster(general)
    refused = simulation.members[0].correct()
    assert refused is not None and refused.action == "too-few-present"
    before = len(simulation.records.requests(CORRECTION))
    screened = EncryptedProposer(simulation.records, general)(simulation.ctx, simulation.roles[0].voter)
    assert screened.candidate is None and set(screened.excluded.values()) == {"too-few-present"}
    assert len(simulation.records.requests(CORRECTION)) == before


def test_an_unreadable_update_is_waited_for_not_unmasked(run) -> None:
    """An update the store does not give may exist all the same: its member is not absent (the
    others' corrections would expose it the moment its bytes turn up), and the attempt waits."""
    simulation, _ = run
    ledger = simulation.ctx.ledger
    simulation.chain.advance_time(ledger.current_round().deadline + 1 - ledger.chain.now())
    ledger.redraw(simulation.coalition.validators[0])
    parent = ledger.cursor().head
    for member in simulation.members[:2]:
        member.submit(parent)
    hidden = ledger.register_masked_update(
        simulation.coalition.members[2], parent, ledger.current_round(), b"\x03" * 32, b"\x04" * 32, 64, 64
    )
    general = next(v for v in simulation.coalition.validators if v.address == ledger.current_round().general)
    ledger.close_roster(general)
    gathered = simulation.records.gathered(parent, ledger.current_round())
    assert gathered.unreadable == [hidden] and gathered.absent == []
    assert simulation.members[0].correct() is None
    with pytest.raises(Pending, match="from the store"):
        EncryptedProposer(simulation.records, general)(simulation.ctx, simulation.roles[0].voter)
