"""Chain backends: URL dispatch, the in-process journal's durability, unreachable nodes."""

from __future__ import annotations

import datetime
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from tclearn.chain.backends import Chain, InProcessChain, connect
from tclearn.errors import ChainError
from tests.conftest import deploy_coalition


def test_unknown_url_is_a_clear_error() -> None:
    with pytest.raises(ChainError, match="unknown chain URL"):
        connect("ftp://example")


def test_unreachable_rpc_is_a_chain_error() -> None:
    from tclearn.services import free_port

    with pytest.raises(ChainError, match="unreachable"):
        connect(f"http://127.0.0.1:{free_port()}")


def test_inprocess_chain_survives_the_process(tmp_path: Path) -> None:
    chain = connect("inprocess", tmp_path)
    coalition = deploy_coalition(chain)
    update = coalition.ledger.register_update(coalition.members[0], 1, b"\x01" * 32, b"\x02" * 32, 64, 16)
    chain.advance_time(50)
    clock, head, address = chain.now(), coalition.ledger.cursor(), coalition.ledger.address
    chain.close()

    reopened = connect("inprocess", tmp_path)
    try:
        from tclearn.chain.ledger import Ledger

        ledger = Ledger(reopened, address)
        assert ledger.cursor() == head
        assert ledger.update(update).member == coalition.members[0].address
        assert reopened.now() == clock
        assert ledger.current_round() == coalition.ledger.current_round()
    finally:
        reopened.close()


def test_one_process_holds_the_journal(tmp_path: Path) -> None:
    first = connect("inprocess", tmp_path)
    try:
        with pytest.raises(ChainError, match="open in another process"):
            connect("inprocess", tmp_path)
    finally:
        first.close()
    connect("inprocess", tmp_path).close()  # free again once closed


def test_a_torn_last_line_is_dropped_not_fatal(tmp_path: Path) -> None:
    chain = connect("inprocess", tmp_path)
    deploy_coalition(chain)
    blocks = chain.w3.eth.block_number
    chain.close()
    journal = tmp_path / "chain.journal"
    with journal.open("a") as handle:
        handle.write('{"op":"tx","ts":1,"raw":"02f8')  # a crash mid-write: no newline
    reopened = InProcessChain(journal)
    try:
        assert reopened.w3.eth.block_number == blocks
    finally:
        reopened.close()


def test_a_damaged_journal_is_refused(tmp_path: Path) -> None:
    chain = connect("inprocess", tmp_path)
    chain.close()
    with (tmp_path / "chain.journal").open("a") as handle:
        handle.write("not json\n")
    with pytest.raises(ChainError, match="not a journal entry"):
        connect("inprocess", tmp_path)


def test_dev_only_operations_are_refused_on_a_production_chain(anvil_url: str) -> None:
    chain = connect(anvil_url)
    chain._client = "geth/v1.14"  # what a consortium node reports
    with pytest.raises(ChainError, match="not a development chain"):
        chain.fund("0x" + "11" * 20, 1)


def test_a_receipt_is_asked_for_again_soon_and_a_transaction_never_mined_is_a_chain_error(
    anvil_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from web3.exceptions import TransactionNotFound

    from tclearn.chain import backends

    chain = connect(anvil_url)
    asks, waits = [], []
    real = chain.w3.eth.wait_for_transaction_receipt  # the third ask waits for anvil to mine

    def slow_node(tx_hash: bytes) -> object:
        asks.append(tx_hash)
        if len(asks) < 3:  # not mined yet at the first two asks
            raise TransactionNotFound("pending")
        return real(tx_hash)

    monkeypatch.setattr(chain.w3.eth, "get_transaction_receipt", slow_node)
    monkeypatch.setattr(backends.time, "sleep", waits.append)
    chain.fund("0x" + "22" * 20, 1)
    assert len(asks) == 3 and waits == [0.002, 0.004], "asked again within milliseconds, not web3's 0.1 s"
    monkeypatch.undo()

    def never_mined(tx_hash: bytes) -> object:
        raise TransactionNotFound("pending")

    monkeypatch.setattr(backends, "RECEIPT_TIMEOUT_S", 0.05)
    monkeypatch.setattr(chain.w3.eth, "get_transaction_receipt", never_mined)
    with pytest.raises(ChainError, match="not mined after"):
        chain.fund("0x" + "33" * 20, 1)


def test_a_held_clock_moves_only_as_the_schedule_says(chain: Chain) -> None:
    """A simulation's chain time is its schedule's, not this machine's speed."""
    receiver = chain.w3.eth.accounts[1]
    chain.hold_clock()
    start = chain.now()
    chain.advance_time(500)
    assert chain.now() == start + 500
    time.sleep(1.1)  # the machine takes its time: the chain does not see it
    chain.fund(receiver, 1)
    chain.fund(receiver, 1)
    assert chain.now() == start + 502, "one second a block"


def test_a_held_inprocess_clock_is_held_again_after_a_restart(tmp_path: Path) -> None:
    chain = InProcessChain(tmp_path / "chain.journal")
    chain.hold_clock()
    chain.advance_time(100)
    held_at = chain.now()
    chain.close()
    time.sleep(1.1)
    reopened = InProcessChain(tmp_path / "chain.journal")
    try:
        assert reopened.now() == held_at
        reopened.fund(reopened.w3.eth.accounts[1], 1)
        assert reopened.now() == held_at + 1
    finally:
        reopened.close()


def test_on_a_held_clock_calls_see_the_schedules_time_not_the_wall_clock(
    chain: Chain, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A general whose screening took longer than the proposal window in wall time still
    proposes: on a held clock, the window is the schedule's."""
    from tests.conftest import PROPOSAL_TIMEOUT, deploy_coalition

    coalition = deploy_coalition(chain)
    chain.hold_clock()
    ledger = coalition.ledger
    update = ledger.register_update(coalition.members[0], 1, b"\x01" * 32, b"\x02" * 32, 64, 16)
    later = int(time.time()) + 10 * PROPOSAL_TIMEOUT
    monkeypatch.setattr(time, "time", lambda: later)  # the machine took its time…
    wall = datetime.datetime.fromtimestamp(later, datetime.UTC)
    clock = SimpleNamespace(datetime=SimpleNamespace(now=lambda tz: wall), timezone=datetime.timezone)
    monkeypatch.setattr("eth._utils.headers.datetime", clock)  # …as py-evm's wall clock sees it
    general = coalition.general()
    block = ledger.propose(general, 1, b"\x01" * 32, b"\x02" * 32, [update], 1, b"\x03" * 32)
    assert ledger.cursor().open == block
