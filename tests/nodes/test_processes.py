"""A coalition as separate OS processes on real parts: anvil and a js-ipfs node, 2 members, 3
validator daemons (whoever is drawn proposes), 3 rounds; one daemon killed and restarted. In
mode A and in mode B (every model and update sealed, keys registered at deploy)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tclearn.config import CoalitionConfig
from tclearn.nodes.site import open_node
from tclearn.privacy.envelope import is_sealed
from tclearn.store import open_store
from tclearn.store.cid import digest_to_cid

pytestmark = [pytest.mark.slow, pytest.mark.anvil, pytest.mark.ipfs]
TCLEARN = [sys.executable, "-c", "from tclearn.cli import main; main()"]


def tclearn(directory: Path, *args: str) -> dict:
    done = subprocess.run([*TCLEARN, "--dir", str(directory), *args], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if "--json" in args else {}


class Daemons:
    def __init__(self, directory: Path) -> None:
        self.directory, self.running = directory, {}

    def start(self, name: str, role: str = "validator") -> None:
        log = (self.directory / f"{name}.log").open("a")
        self.running[name] = subprocess.Popen(
            [*TCLEARN, "--dir", str(self.directory), role, "run", "--as", name, "--poll", "0.3"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def kill(self, name: str) -> None:
        self.running.pop(name).send_signal(signal.SIGKILL)

    def stop_all(self) -> None:
        for process in self.running.values():
            process.send_signal(signal.SIGTERM)  # as a service manager stops them
        for process in self.running.values():
            process.wait(timeout=30)


@pytest.fixture(params=["A", "B"])
def coalition(
    tmp_path: Path, anvil_url: str, ipfs_url: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[Path]:
    monkeypatch.setenv("TCLEARN_PASSWORD", "a test password")
    args = ["--members", "2", "--validators", "3", "--chain", anvil_url, "--store", ipfs_url, "--scrypt-n", "1024"]
    args += ["--gather", "3", "--mode", request.param]
    tclearn(tmp_path, "init", *args)
    tclearn(tmp_path, "deploy")
    yield tmp_path


def wait_for_head(directory: Path, block: int, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if tclearn(directory, "status", "--json")["head"]["id"] >= block:
            return
        time.sleep(0.5)
    logs = {p.name: p.read_text()[-800:] for p in directory.glob("validator-*.log")}
    raise AssertionError(f"head did not reach block {block}: {logs}")


def test_members_and_validator_daemons_as_processes_build_a_voted_lineage(coalition: Path) -> None:
    daemons = Daemons(coalition)
    for i in (1, 2, 3):
        daemons.start(f"validator-{i}")
    try:
        for number in (1, 2, 3):
            head = tclearn(coalition, "status", "--json")["head"]["id"]
            for member in ("member-1", "member-2"):  # the general may propose after the first
                tclearn(coalition, "member", "submit", "--as", member, "--seed", str(number))
            wait_for_head(coalition, head + 1)
            if number == 1:  # killed mid-run, restarted: it neither votes twice nor stalls anything
                daemons.kill("validator-1")
                daemons.start("validator-1")
    finally:
        daemons.stop_all()
    for log in coalition.glob("validator-*.log"):
        assert "Traceback" not in log.read_text(), log.read_text()[-2000:]
        assert log.read_text().rstrip().endswith("stopped"), "SIGTERM stops a daemon as Ctrl-C does"

    mode = json.loads((coalition / "coalition.json").read_text())["rules"]["mode"]
    node = open_node(coalition, "auditor-1")
    try:
        ledger = node.ctx.ledger
        lineage = ledger.lineage()
        assert len(lineage) >= 4 and lineage[-1] == 1, "at least a block a round"
        assert lineage == list(range(lineage[0], 0, -1)), "no block was refused: every one is in the lineage"
        validators = set(ledger.validators())
        for block in lineage[:-1]:
            votes = ledger.votes(block)
            voters = [v["validator"] for v in votes]
            assert len(voters) == len(set(voters)) and set(voters) <= validators, "one vote per validator"
            assert sum(v["accept"] for v in votes) >= 2, "final at 2 of 3"
            record = ledger.block_record(block)
            assert record.general in validators and record.update_ids
            data = open_store(node.config.store).get(digest_to_cid(record.cid_digest))
            assert hashlib.sha256(data).digest() == record.model_hash == ledger.block(block).model_hash
            assert is_sealed(data) == (node.config.mode == "B")
            node.ctx.block_weights(block)  # the auditor's key opens every final model
    finally:
        node.close()
    if mode == "B":
        access = tclearn(coalition, "audit", "access", "--json")
        participants = {
            p["address"]
            for p in json.loads((coalition / "coalition.json").read_text())["participants"].values()
            if p["roles"]
        }
        for block in lineage[:-1]:
            readers = {g["account"] for g in access["grants"] if g["blocks"] == [block]}
            assert readers == participants, "every model's key wrapped for every participant, no one else"
        assert {g["name"] for g in access["grants"] if g["object"] == "update"} >= {"validator-1", "member-1"}
        config = CoalitionConfig.load(coalition)
        logs = "".join(p.read_text() for p in coalition.glob("*.log"))
        for name in config.participants:
            key = config.unlock_hpke(name)
            assert key is None or (key.secret.hex() not in logs and key.secret.hex()[:32] not in logs)
    assert os.environ["TCLEARN_PASSWORD"] not in "".join(p.read_text() for p in coalition.glob("*.log"))
