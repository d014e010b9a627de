"""Mode C as separate OS processes on real parts: anvil, a js-ipfs node, a supervisor daemon,
3 validator daemons, 3 members submitting from the command line; the supervisor killed and
restarted mid-run; a copy traced with `audit whose`; no password and no CKKS secret key in any
daemon's log."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tclearn.config import CoalitionConfig
from tclearn.he.keystore import SupervisorKeystore
from tclearn.store import open_store
from tclearn.store.cid import digest_to_cid
from tests.nodes.test_processes import TCLEARN, Daemons, tclearn, wait_for_head

pytestmark = [pytest.mark.slow, pytest.mark.anvil, pytest.mark.ipfs]
MEMBERS = ("member-1", "member-2", "member-3")


@pytest.fixture
def coalition(tmp_path: Path, anvil_url: str, ipfs_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("TCLEARN_PASSWORD", "a test password")
    args = ["--members", "3", "--validators", "3", "--chain", anvil_url, "--store", ipfs_url, "--scrypt-n", "1024"]
    tclearn(tmp_path, "init", "--mode", "C", "--dataset", "breast-cancer", "--gather", "3", *args)
    tclearn(tmp_path, "deploy")
    yield tmp_path


def submit_when_issued(directory: Path, member: str, timeout_s: float = 120) -> dict:
    """`member submit`, again while the supervisor has not issued the member its copy yet."""
    deadline = time.monotonic() + timeout_s
    while True:
        done = subprocess.run(
            [*TCLEARN, "--dir", str(directory), "member", "submit", "--as", member, "--json"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode == 0:
            return json.loads(done.stdout)
        assert "waiting for a copy of block" in done.stderr, done.stderr
        assert time.monotonic() < deadline, f"{member} never got its copy"
        time.sleep(1)


def test_a_mode_c_coalition_of_processes_trains_votes_and_traces(coalition: Path) -> None:
    daemons = Daemons(coalition)
    daemons.start("supervisor-1", role="supervisor")
    for i in (1, 2, 3):
        daemons.start(f"validator-{i}")
    try:
        for number in (1, 2):
            head = tclearn(coalition, "status", "--json")["head"]["id"]
            for member in MEMBERS:
                assert submit_when_issued(coalition, member)["parent"] == head
            if number == 2:  # killed mid-round, restarted: its keystore and the chain carry on
                daemons.kill("supervisor-1")
                daemons.start("supervisor-1", role="supervisor")
            wait_for_head(coalition, head + 1, timeout_s=240)
    finally:
        daemons.stop_all()
    logs = {p.name: p.read_text() for p in coalition.glob("*.log")}
    for text in logs.values():
        assert "Traceback" not in text, text[-2000:]
    assert "decrypted" in logs["supervisor-1.log"]
    # 2 of 3 decide: a given validator may find each block closed before its vote lands
    assert any("voted accept" in logs[f"validator-{i}.log"] for i in (1, 2, 3))
    assert os.environ["TCLEARN_PASSWORD"] not in "".join(logs.values())

    config = CoalitionConfig.load(coalition)
    keystore = SupervisorKeystore.open(coalition / "keystores" / "supervisor-1.ckks", os.environ["TCLEARN_PASSWORD"])
    everything_logged = "".join(logs.values()).encode()
    for participant in keystore.fingerprints:
        secret_key = coalition / "secret-key.bin"
        keystore.context(participant).context.secret_key().data.save(str(secret_key))
        serialised = secret_key.read_bytes()
        assert serialised[1000:1032] not in everything_logged
        assert serialised[1000:1032].hex() not in everything_logged.decode()

    status = tclearn(coalition, "member", "status", "--as", "member-1", "--json")
    assert status["record"]["submitted"] == 2 and status["record"]["accepted"] == 2

    chain = config.connect()
    try:
        ledger = config.ledger_on(chain)
        member = config.participants["member-2"].address
        issued = [c for c in ledger.copies_issued() if c.participant == member][-1]
        data = open_store(config.store_url(), coalition).get(digest_to_cid(issued.cid_digest))
    finally:
        chain.close()
    copy = coalition / "leaked-copy.bin"
    copy.write_bytes(data)
    found = tclearn(coalition, "audit", "whose", str(copy), "--json")
    assert (found["name"], found["block"], found["how"]) == ("member-2", issued.block, "hash")
