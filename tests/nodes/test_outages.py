"""Nodes that never die and never lie: an outage is a line in the log, a chain that rolled back
is followed, a refused transaction names its reason."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from web3.types import RPCEndpoint

from tclearn.chain.backends import connect
from tclearn.chain.ledger import BlockState
from tclearn.chain.transact import _reason
from tclearn.engine.schedule import settle_round
from tclearn.engine.steps import validator_pass
from tclearn.errors import ChainError, TransactionReverted
from tclearn.fba.vote import ZERO
from tclearn.nodes import daemon
from tclearn.services import anvil_down, anvil_up, free_port
from tclearn.simulate import Simulation, SimulationConfig
from tclearn.store import open_store
from tests.conftest import Coalition


def test_an_unreachable_rpc_chain_is_a_chain_error_wherever_web3_asks() -> None:
    with pytest.raises(ChainError, match="chain unreachable"):
        connect(f"http://127.0.0.1:{free_port()}")


def test_a_transaction_that_failed_once_mined_names_the_contracts_error(coalition: Coalition) -> None:
    """The receipt of a failed transaction says only `status 0`: the reason comes from its replay."""
    ledger = coalition.ledger
    caller = coalition.validators[0]
    tx = {"from": caller.address, "to": ledger.address, "data": ledger.contract.encode_abi("expire", [99])}
    reverted = _reason(coalition.chain, tx, {"transactionHash": b"\x01" * 32}, ledger.errors)  # type: ignore[arg-type]
    assert isinstance(reverted, TransactionReverted) and reverted.name == "BlockNotPending"


class FakeRole:
    """What a daemon runs (`daemon.Passes`): a validator's role, or the supervisor; it records
    its passes and reconciliations, and each test says what a pass does."""

    address = "0x" + "00" * 20
    kind = "validator"

    def __init__(self) -> None:
        self.passes: list[str] = []

    def recover(self) -> None:
        self.passes.append("reconcile")


def test_a_daemon_logs_an_outage_in_one_line_reconciles_and_goes_on(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    class Role(FakeRole):
        def pass_(self) -> None:
            self.passes.append("pass")
            if self.passes.count("pass") <= 2:
                raise ChainError("chain unreachable at http://127.0.0.1:1: ConnectionError")
            if self.passes.count("pass") == 3:
                raise ValueError("a bug")
            raise KeyboardInterrupt

    monkeypatch.setattr(daemon, "pause", lambda _: None)
    with caplog.at_level(logging.INFO, logger="tclearn.validator"), pytest.raises(KeyboardInterrupt):
        daemon.run(role := Role(), poll_s=0.01)
    assert role.passes == ["pass", "reconcile", "pass", "reconcile", "pass", "reconcile", "pass"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings[:2] == [
        "chain unreachable at http://127.0.0.1:1: ConnectionError; retrying in 0 s",
        "chain unreachable at http://127.0.0.1:1: ConnectionError; retrying in 0 s",
    ]
    assert "unexpected ValueError: a bug" in warnings[2]


def test_a_stop_request_a_destructor_swallowed_still_stops_the_daemon(monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGTERM's KeyboardInterrupt, raised while a destructor runs, is dropped by Python; the
    daemon then retried a dead chain with 30 s waits instead of stopping. It stops at its next
    wait, at once."""

    class Role(FakeRole):
        def pass_(self) -> None:
            self.passes.append("pass")
            with contextlib.suppress(KeyboardInterrupt):  # as `__del__` does: "Exception ignored in ..."
                daemon._interrupt(15, None)
            raise ChainError("chain unreachable at http://127.0.0.1:1: ConnectionError")

    monkeypatch.setattr(daemon, "_stop", daemon.threading.Event())
    with pytest.raises(KeyboardInterrupt):
        daemon.run(role := Role(), poll_s=600)  # a backoff of 600 s: the test would hang if it waited
    assert role.passes == ["pass"]


@pytest.fixture
def anvil_sim(tmp_path: Path) -> Iterator[Simulation]:
    """A simulation on an anvil of its own, whose chain the test rolls back."""
    info = anvil_up(tmp_path / "anvil")
    chain = connect(info.url)
    try:
        yield Simulation(SimulationConfig(members=4, validators=4, rounds=3), chain, open_store("local", tmp_path))
    finally:
        chain.close()
        anvil_down(tmp_path / "anvil")


@pytest.mark.slow
@pytest.mark.anvil
def test_a_chain_that_lost_a_final_block_is_voted_again_with_the_secrets_it_holds(anvil_sim: Simulation) -> None:
    sim, ledger = anvil_sim, anvil_sim.ctx.ledger
    assert sim.play_round(1).outcome == "final"
    for index in range(4):
        sim.submit(index, ledger.cursor().head, seed=10 + index)
    general = next(r for r in sim.roles if r.general and r.general.account.address == ledger.current_round().general)
    sim.chain.advance_time(sim.config.rules().gather_s)
    assert validator_pass(general).action == "proposed"  # type: ignore[union-attr]
    block = ledger.cursor().open
    snapshot = sim.chain.w3.provider.make_request(RPCEndpoint("evm_snapshot"), [])["result"]
    assert settle_round(sim.chain, ledger, sim.roles, sim.phases).how == "closed"
    assert ledger.block(block).state is BlockState.FINAL

    # The chain loses the votes that made the block final (a devnet killed before it saved).
    sim.chain.w3.provider.make_request(RPCEndpoint("evm_revert"), [snapshot])
    assert ledger.block(block).state is BlockState.PENDING
    remembered = sum(str(block) in role.voter.state.voted for role in sim.roles)
    assert remembered >= 3, "the voters that made it final remember their lost votes"

    assert settle_round(sim.chain, ledger, sim.roles, sim.phases).how == "closed"
    assert ledger.block(block).state is BlockState.FINAL
    assert ledger.rollbacks == 1
    # Each vote revealed the secret the chain held after the rollback (those who had voted on
    # block 2 committed one), none was withheld for want of it.
    committed = {v["validator"] for v in ledger.votes(2)}
    again = ledger.votes(block)
    assert len(again) >= 3 and all((v["reveal"] != ZERO) == (v["validator"] in committed) for v in again)
    assert sim.play_round(3).outcome == "final", "the coalition goes on"


def test_a_general_that_proposes_nothing_says_why_for_each_update(caplog: pytest.LogCaptureFixture) -> None:
    from tclearn.engine.steps import Outcome

    with caplog.at_level(logging.INFO, logger="tclearn.validator"):
        daemon.report(Outcome("no-candidate", excluded={4: "outlier", 3: "harmful-loss"}))
        daemon.report(Outcome("no-candidate", detail="unchanged", excluded={4: "outlier", 3: "harmful-loss"}))
        daemon.report(Outcome("no-candidate"))
        lost_race = Outcome("refused", 7, "transaction reverted: BlockNotPending(id=7, state=2)", check=object())  # type: ignore[arg-type]
        daemon.report(lost_race)
    assert [r.getMessage() for r in caplog.records] == [
        "drawn as general: update 3 left out (harmful-loss)",
        "drawn as general: update 4 left out (outlier)",
        "drawn as general: no update to propose yet",
        "block 7 closed before this vote landed (quorum reached without it)",
    ]


@pytest.mark.slow
def test_a_member_reads_why_its_update_was_left_out(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from tclearn.nodes.member import fates, record_line
    from tclearn.nodes.member import record as member_record

    chain = connect("inprocess:memory")
    try:
        config = SimulationConfig(members=4, validators=4, rounds=1, attack="label-flip", attackers=1)
        sim = Simulation(config, chain, open_store("local", tmp_path))
        record = sim.play_round(1)
        assert record.outcome == "final" and 0 in record.excluded
        attacker = SimpleNamespace(
            ctx=sim.ctx, account=sim.coalition.members[0], name="m0", config=SimpleNamespace(directory=tmp_path)
        )
        (fate,) = fates(attacker)  # type: ignore[arg-type]
        assert fate.state == "excluded" and fate.block == record.block and fate.reason == record.excluded[0]
        assert fate.line().endswith(f"excluded ({record.excluded[0]}), block {record.block}")
        summary = member_record([fate])
        assert summary == {
            "submitted": 1,
            "accepted": 0,
            "states": {"excluded": 1},
            "left_out": {record.excluded[0]: 1},
        }
        assert record_line(summary) == f"1 submitted, 0 in final blocks; left out: 1 {record.excluded[0]}"
        honest = SimpleNamespace(
            ctx=sim.ctx, account=sim.coalition.members[1], name="m1", config=SimpleNamespace(directory=tmp_path)
        )
        assert member_record(fates(honest))["accepted"] == 1  # type: ignore[arg-type]
    finally:
        chain.close()


def test_a_member_reads_why_the_validators_rejected_its_block() -> None:
    from types import SimpleNamespace

    from tclearn.fba.metrics import VoteMetrics
    from tclearn.nodes.member import _rejected_for

    def vote(accept: bool, reason: str) -> dict[str, object]:
        return {"accept": accept, "metrics": VoteMetrics(0.5, 0.5, 0.5, 0.5, 1.0, 1.0, 10, 10, reason).encode()}

    votes = [vote(False, "global-accuracy"), vote(True, "ok"), vote(False, "global-accuracy"), vote(False, "outlier")]
    node = SimpleNamespace(ctx=SimpleNamespace(ledger=SimpleNamespace(votes=lambda block: votes)))
    assert _rejected_for(node, 5) == "global-accuracy"  # type: ignore[arg-type]
    votes.append({"accept": False, "metrics": b"\x09" * 32})  # a word this version cannot read
    assert _rejected_for(node, 5) == "global-accuracy"  # type: ignore[arg-type]
