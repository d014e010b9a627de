"""The project-managed services: anvil (start, status, stop, a restart that keeps the chain
and its URL, a chain that moves without traffic) and its IPFS node (tests/store)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tclearn import services
from tclearn.chain.backends import connect
from tclearn.chain.ledger import Ledger
from tests.conftest import deploy_coalition

pytestmark = pytest.mark.anvil


def test_devnet_lifecycle_keeps_state_across_restart(tmp_path: Path) -> None:
    assert services.anvil_status(tmp_path) is None
    info = services.anvil_up(tmp_path)
    try:
        assert info.running and info.chain_id == 31337 and info.url.startswith("http://127.0.0.1:")
        assert services.anvil_up(tmp_path).pid == info.pid, "a second up reuses the running devnet"
        chain = connect(info.url)
        coalition = deploy_coalition(chain)
        head = coalition.ledger.cursor()
    finally:
        assert services.anvil_down(tmp_path)
    stopped = services.anvil_status(tmp_path)
    assert stopped is not None and not stopped.running and stopped.url == info.url
    assert not services.anvil_down(tmp_path)

    restarted = services.anvil_up(tmp_path)
    try:
        assert restarted.pid != info.pid and restarted.url == info.url, "a restart keeps the URL nodes were given"
        assert Ledger(connect(restarted.url), coalition.ledger.address).cursor() == head
    finally:
        services.anvil_down(tmp_path)


def test_a_dead_devnet_reports_not_running(tmp_path: Path) -> None:
    import os
    import signal
    import time

    info = services.anvil_up(tmp_path)
    os.kill(info.pid, signal.SIGKILL)
    for _ in range(100):
        current = services.anvil_status(tmp_path)
        if current is not None and not current.running:
            break
        time.sleep(0.05)
    assert current is not None and not current.running
    services.anvil_down(tmp_path)


def test_the_coalitions_devnet_mines_without_traffic(tmp_path: Path) -> None:
    """Deadlines pass on an idle chain: a silent general is replaced without any transaction."""
    import time

    info = services.anvil_up(tmp_path, block_time=1)
    try:
        chain = connect(info.url)
        first = chain.now()
        time.sleep(2.5)
        assert chain.now() >= first + 2
    finally:
        services.anvil_down(tmp_path)


def test_a_port_taken_meanwhile_is_one_line(tmp_path: Path) -> None:
    import socket

    info = services.anvil_up(tmp_path)
    services.anvil_down(tmp_path)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", info.port))
        squatter.listen()
        with pytest.raises(services.DevnetError, match=f"port {info.port} .* is taken"):
            services.anvil_up(tmp_path)
