"""Chain backends: URL dispatch, the in-process journal's durability, unreachable nodes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tclearn.chain.backends import InProcessChain, connect
from tclearn.errors import ChainError
from tests.conftest import deploy_coalition


def test_unknown_url_is_a_clear_error() -> None:
    with pytest.raises(ChainError, match="unknown chain URL"):
        connect("ftp://example")


def test_unreachable_rpc_is_a_chain_error() -> None:
    from tclearn.procs import free_port

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
