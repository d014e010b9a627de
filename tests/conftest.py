"""Shared fixtures: a chain of each kind, and a freshly deployed coalition on it.

`chain` is parametrised over the in-process EVM and a real anvil that this test session starts
(once) and stops, so every ledger test runs on both backends.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount

from tclearn.chain.backends import Chain, connect
from tclearn.chain.deploy import Genesis
from tclearn.chain.ephemeral import EphemeralCoalition, ephemeral_coalition, funded_accounts
from tclearn.chain.ledger import LedgerParams
from tclearn.services import anvil_down, anvil_up, ipfs_down, ipfs_up

PROPOSAL_TIMEOUT = 300
VOTE_TIMEOUT = 600
MEMBERSHIP_TIMEOUT = 3600
MIN_BATCH = 8


@pytest.fixture(scope="session")
def anvil_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    directory = tmp_path_factory.mktemp("anvil")
    info = anvil_up(directory)
    yield info.url
    anvil_down(directory)


@pytest.fixture(scope="session")
def ipfs_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    repo = tmp_path_factory.mktemp("ipfs")
    info = ipfs_up(repo)
    yield info.url
    ipfs_down(repo)


@pytest.fixture(params=["inprocess", pytest.param("anvil", marks=pytest.mark.anvil)])
def chain(request: pytest.FixtureRequest) -> Iterator[Chain]:
    url = "inprocess:memory" if request.param == "inprocess" else request.getfixturevalue("anvil_url")
    opened = connect(url)
    yield opened
    opened.close()


Coalition = EphemeralCoalition
GENESIS = Genesis(b"\x11" * 32, b"\x22" * 32, b"\x33" * 32)


def make_accounts(chain: Chain, count: int) -> list[LocalAccount]:
    return funded_accounts(chain, count)


def deploy_coalition(chain: Chain, validators: int = 4, members: int = 2, mode: str = "A") -> Coalition:
    params = LedgerParams(mode, MIN_BATCH, PROPOSAL_TIMEOUT, VOTE_TIMEOUT, MEMBERSHIP_TIMEOUT)
    return ephemeral_coalition(chain, params, GENESIS, validators, members)


@pytest.fixture
def coalition(chain: Chain) -> Coalition:
    return deploy_coalition(chain)


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parents[1]


def chain_bytes(w3: Any) -> bytes:
    """Everything on a chain: every transaction's calldata and every log's data and topics (what
    a scan for leaked secrets must search)."""
    parts = []
    for number in range(w3.eth.block_number + 1):
        for tx in w3.eth.get_block(number, full_transactions=True)["transactions"]:
            parts.append(bytes(tx["input"] if "input" in tx else tx["data"]))  # eth-tester says "data"
            for log in w3.eth.get_transaction_receipt(tx["hash"])["logs"]:
                parts.append(bytes(log["data"]) + b"".join(bytes(t) for t in log["topics"]))
    return b"\n".join(parts)
