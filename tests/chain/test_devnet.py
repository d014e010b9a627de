"""The project-managed anvil: start, status, stop, and a restart that keeps the chain."""

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
    assert services.anvil_status(tmp_path) is None
    assert not services.anvil_down(tmp_path)

    restarted = services.anvil_up(tmp_path)
    try:
        assert restarted.pid != info.pid
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
