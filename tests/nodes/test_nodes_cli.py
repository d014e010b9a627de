"""A coalition run through the node commands, as separate sites would: members submit, validator
daemons (one pass each) propose and vote, the member follows its update, anyone pulls the head."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from safetensors.torch import load

from tclearn.cli import main

pytestmark = pytest.mark.slow  # end to end: whole coalitions train


def run(directory: Path, *args: str) -> dict:
    result = CliRunner().invoke(main, ["--dir", str(directory), *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout) if "--json" in args else {}


def passes(directory: Path) -> None:
    """Two passes of every validator daemon: whoever is drawn proposes, then all vote."""
    for _ in range(2):
        for i in range(1, 5):
            run(directory, "validator", "run", "--as", f"validator-{i}", "--once")


@pytest.fixture
def coalition(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("TCLEARN_PASSWORD", raising=False)
    run(tmp_path, "init", "--members", "3", "--validators", "4", "--scrypt-n", "1024", "--gather", "0")
    run(tmp_path, "deploy")
    return tmp_path


def test_members_and_validator_daemons_extend_the_head(coalition: Path, tmp_path: Path) -> None:
    updates = [run(coalition, "member", "submit", "--as", f"member-{i}", "--json")["update"] for i in (1, 2, 3)]
    assert updates == [1, 2, 3]
    assert run(coalition, "member", "status", "--as", "member-1", "--json")["updates"][0]["state"] == "waiting"
    passes(coalition)
    status = run(coalition, "status", "--json")
    assert status["head"]["id"] == 2 and status["candidate"] is None
    status_2 = run(coalition, "member", "status", "--as", "member-2", "--json")
    assert status_2["updates"][0] == {"update": 2, "parent": 1, "block": 2, "state": "final", "reason": None}
    assert status_2["record"] == {"submitted": 1, "accepted": 1, "states": {"final": 1}, "left_out": {}}

    out = tmp_path / "head.safetensors"
    pulled = run(coalition, "model", "pull", "--out", str(out), "--json")
    assert pulled["block"] == 2 and pulled["state"] == "final"
    assert status["head"]["model_hash"] == "0x" + __import__("hashlib").sha256(out.read_bytes()).hexdigest()
    assert set(load(out.read_bytes())) == {"1.weight", "1.bias", "3.weight", "3.bias", "5.weight", "5.bias"}


def test_a_restarted_validator_does_not_vote_twice(coalition: Path) -> None:
    from tclearn.nodes.site import open_node

    for i in (1, 2, 3):
        run(coalition, "member", "submit", "--as", f"member-{i}")
    passes(coalition)
    state = coalition / "state" / "validator-1" / "voter.json"

    def voted() -> dict:  # no state file yet: this validator has not had to vote
        return json.loads(state.read_text())["voted"] if state.exists() else {}

    before = voted()
    for _ in range(2):  # restarted twice
        run(coalition, "validator", "run", "--as", "validator-1", "--once")
    after = {"voted": voted()}
    assert before.items() <= after["voted"].items(), "what was voted stays as it was"
    node = open_node(coalition, "validator-1")
    try:
        ledger = node.ctx.ledger
        for block in range(2, ledger.cursor().block_count + 1):
            mine = [v for v in ledger.votes(block) if v["validator"] == node.account.address]
            assert len(mine) <= 1
            assert (str(block) in after["voted"]) == bool(mine)
    finally:
        node.close()


def test_node_errors_are_one_line(coalition: Path) -> None:
    result = CliRunner().invoke(main, ["--dir", str(coalition), "member", "submit", "--as", "validator-1"])
    assert result.exit_code == 1 and "is not a member" in result.stderr
    result = CliRunner().invoke(main, ["--dir", str(coalition), "member", "submit", "--as", "nobody"])
    assert result.exit_code == 1 and "no participant 'nobody'" in result.stderr


def test_sites_bring_their_own_csv_files(coalition: Path, tmp_path: Path) -> None:
    from tclearn.data.datasets import Dataset, _breast_cancer_raw
    from tclearn.data.loaders import save_csv

    raw, labels = _breast_cancer_raw()  # as a hospital exports them: the coalition's rules scale them
    data = Dataset("raw", raw.astype("float32"), labels, 2)
    files = {}
    for name, rows in {"site": slice(0, 200), "global": slice(400, 500), "local": slice(500, 569)}.items():
        files[name] = tmp_path / f"{name}.csv"
        save_csv(files[name], data.subset(range(569)[rows]))
    update = run(coalition, "member", "submit", "--as", "member-1", "--data", str(files["site"]), "--json")
    assert update["samples"] == 200
    for _ in range(2):
        for i in range(1, 5):
            run(
                coalition,
                "validator",
                "run",
                "--as",
                f"validator-{i}",
                "--once",
                "--global-test",
                str(files["global"]),
                "--local-test",
                str(files["local"]),
            )
    assert run(coalition, "status", "--json")["head"]["id"] == 2
    bad = tmp_path / "bad.csv"
    bad.write_text("1,2,3\n")
    result = CliRunner().invoke(
        main, ["--dir", str(coalition), "member", "submit", "--as", "member-2", "--data", str(bad)]
    )
    assert result.exit_code == 1 and "expected 30 features" in result.stderr


def test_a_general_kept_apart_proposes_and_validators_told_not_to_never_do(coalition: Path) -> None:
    for i in (1, 2, 3):
        run(coalition, "member", "submit", "--as", f"member-{i}")
    for i in range(1, 5):
        run(coalition, "validator", "run", "--as", f"validator-{i}", "--once", "--no-general")
    assert run(coalition, "status", "--json")["candidate"] is None, "no one proposed"
    drawn = run(coalition, "status", "--json")["round"]["general_name"]
    run(coalition, "general", "run", "--as", drawn, "--once")
    candidate = run(coalition, "status", "--json")["candidate"]
    assert candidate is not None and candidate["votes"] == [], "the general proposes and does not vote"
    for i in range(1, 5):
        run(coalition, "validator", "run", "--as", f"validator-{i}", "--once", "--no-general")
    assert run(coalition, "status", "--json")["head"]["id"] == 2


def test_a_member_submits_only_what_can_pass_and_learns_what_the_chain_lost(coalition: Path, tmp_path: Path) -> None:
    from tclearn.data.datasets import Dataset, _breast_cancer_raw
    from tclearn.data.loaders import save_csv

    raw, labels = _breast_cancer_raw()
    wrong_labels = tmp_path / "labels.csv"
    save_csv(wrong_labels, Dataset("raw", raw[:100].astype("float32"), labels[:100] + 5, 7))
    result = CliRunner().invoke(
        main, ["--dir", str(coalition), "member", "submit", "--as", "member-1", "--data", str(wrong_labels)]
    )
    assert result.exit_code == 1 and "is not one of this coalition's classes 0..1" in result.stderr
    result = CliRunner().invoke(
        main, ["--dir", str(coalition), "member", "submit", "--as", "member-1", "--learning-rate", "1e30"]
    )
    assert result.exit_code == 1 and "non-finite weights" in result.stderr
    assert run(coalition, "member", "status", "--as", "member-1", "--json")["updates"] == [], "nothing registered"

    # A registration the chain then loses (its journal restored from before it): reported lost.
    journal = coalition / "chain.journal"
    before = journal.read_bytes()
    update = run(coalition, "member", "submit", "--as", "member-1", "--json")["update"]
    journal.write_bytes(before)
    (fate,) = run(coalition, "member", "status", "--as", "member-1", "--json")["updates"]
    assert fate == {"update": update, "parent": 1, "block": None, "state": "lost", "reason": "the chain lost it"}
