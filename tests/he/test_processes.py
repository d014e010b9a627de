"""Mode C as separate OS processes on real parts: anvil, a js-ipfs node, a supervisor daemon,
3 validator daemons, 3 members submitting from the command line; the supervisor killed and
restarted mid-run; a member dead in the last round, the others filing their corrections with
`member correct`; members predicting with `model predict`; a copy traced with `audit whose`;
no password and no CKKS secret key in any daemon's log."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tclearn.config import CoalitionConfig
from tclearn.data.datasets import Dataset, _breast_cancer_raw
from tclearn.data.loaders import save_csv
from tclearn.he.keystore import SupervisorKeystore
from tclearn.services import anvil_down, anvil_up
from tclearn.store import open_store
from tclearn.store.cid import digest_to_cid
from tests.nodes.test_processes import TCLEARN, Daemons, tclearn, wait_for_head

pytestmark = [pytest.mark.slow, pytest.mark.anvil, pytest.mark.ipfs]
MEMBERS = ("member-1", "member-2", "member-3")


@pytest.fixture
def coalition(tmp_path: Path, ipfs_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """On an anvil of its own that mines a block a second, as `tclearn devnet up` runs it: the
    gathering window is chain time, which a chain mining only on transactions would not move
    while the members wait for the roster to close."""
    monkeypatch.setenv("TCLEARN_PASSWORD", "a test password")
    anvil = anvil_up(tmp_path / "devnet", block_time=1)
    try:
        args = ["--members", "3", "--validators", "3", "--chain", anvil.url, "--store", ipfs_url, "--scrypt-n", "1024"]
        tclearn(tmp_path, "init", "--mode", "C", "--dataset", "breast-cancer", "--gather", "20", *args)
        tclearn(tmp_path, "deploy")
        yield tmp_path
    finally:
        anvil_down(tmp_path / "devnet")


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


def correct_when_due(directory: Path, member: str, timeout_s: float = 120) -> dict:
    """`member correct`, again until the roster is closed and its correction filed."""
    deadline = time.monotonic() + timeout_s
    while True:
        done = tclearn(directory, "member", "correct", "--as", member, "--json")
        if done["action"] == "correction-filed":
            return done
        assert done["action"] == "nothing-due", done
        assert time.monotonic() < deadline, f"{member}'s correction never came due"
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
        # member-3's node is dead: once the general's gathering window passes it closes the
        # roster, the others file their corrections, and the round is aggregated without it
        head = tclearn(coalition, "status", "--json")["head"]["id"]
        for member in MEMBERS[:2]:
            assert submit_when_issued(coalition, member)["parent"] == head
        dead = CoalitionConfig.load(coalition).participants["member-3"].address
        assert correct_when_due(coalition, "member-1")["absent"] == [dead]
        roster = tclearn(coalition, "status", "--json")["round"]["roster"]
        assert roster["closed"] and [r["name"] for r in roster["registered"]] == ["member-1", "member-2"]
        # the roster is closed, and the round cannot close before member-2's correction
        late = subprocess.run(
            [*TCLEARN, "--dir", str(coalition), "member", "submit", "--as", "member-3"], capture_output=True, text=True
        )
        assert late.returncode == 1 and "roster-closed" in late.stderr, late.stderr
        assert correct_when_due(coalition, "member-2")["absent"] == [dead]
        wait_for_head(coalition, head + 1, timeout_s=240)
        # a member uses the model it cannot see: its copy runs on its samples, the supervisor
        # returns the labels alone; the same batch again is answered from the chain, another refused
        raw, labels = _breast_cancer_raw()  # as a hospital exports them: the rules scale them
        labelled, unlabelled = coalition / "patients.csv", coalition / "new-patients.csv"
        save_csv(labelled, Dataset("raw", raw[:120].astype("float32"), labels[:120], 2))
        np.savetxt(unlabelled, raw[120:130], delimiter=",", fmt="%.8g")
        predicted = tclearn(coalition, "model", "predict", "--as", "member-1", "--data", str(labelled), "--json")
        assert predicted["samples"] == 120 and predicted["accuracy"] >= 0.9
        again = tclearn(coalition, "model", "predict", "--as", "member-1", "--data", str(labelled), "--json")
        assert again["labels"] == predicted["labels"]
        other = subprocess.run(
            [*TCLEARN, "--dir", str(coalition), "model", "predict", "--as", "member-2", "--data", str(unlabelled)],
            capture_output=True,
            text=True,
        )
        assert other.returncode == 0 and other.stdout.splitlines()[0].startswith("10 labels under block")
        second = subprocess.run(
            [*TCLEARN, "--dir", str(coalition), "model", "predict", "--as", "member-2", "--data", str(labelled)],
            capture_output=True,
            text=True,
        )
        assert second.returncode == 1 and "already-answered" in second.stderr, second.stderr
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
    assert status["record"]["submitted"] == 3 and status["record"]["accepted"] == 3

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
