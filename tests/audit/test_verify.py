"""`tclearn audit verify` and `trace` on a simulation kept with `--keep`: a clean history
verifies, and each kind of tampering (a stored object altered, removed or swapped, a vote forged
in the chain's journal, the settings changed, an event left out of the replay) is named with its
block."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from eth_account import Account
from eth_account.typed_transactions import TypedTransaction
from hexbytes import HexBytes
from web3 import Web3

from tclearn.audit.coalition import Audited, check_grants
from tclearn.audit.history import History
from tclearn.audit.trace import trace
from tclearn.audit.verify import verify
from tclearn.chain.artifacts import ledger_interface
from tclearn.chain.backends import connect
from tclearn.cli import main
from tclearn.model.weights import sha256
from tclearn.privacy.envelope import seal
from tclearn.privacy.keys import DEFAULT_KEM, ParticipantKey
from tclearn.privacy.vault import update_context
from tclearn.rules import CoalitionRules
from tclearn.simulate import Simulation, SimulationConfig, run_simulation
from tclearn.store import open_store
from tclearn.store.cid import cid_digest, digest_to_cid

pytestmark = pytest.mark.slow  # a coalition trains for a few rounds

# Two members flip labels and two of the four validators propose whatever they are given when
# drawn: seed 1 draws them in rounds 1, 2 and 4, and the others refuse those blocks.
CONFIG = SimulationConfig(members=6, validators=4, rounds=5, seed=1, attack="label-flip", attackers=2, rogue_generals=2)


@pytest.fixture(scope="module")
def kept(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("kept") / "run"
    run_simulation(CONFIG, "inprocess", keep=directory)
    return directory


@pytest.fixture
def copy(kept: Path, tmp_path: Path) -> Path:
    """A copy of the kept run to tamper with (its record points at the copy)."""
    target = tmp_path / "run"
    shutil.copytree(kept, target)
    record = json.loads((target / "simulation.json").read_text())
    record |= {"chain": f"inprocess:{target / 'chain.journal'}", "store": f"local:{target / 'store'}"}
    (target / "simulation.json").write_text(json.dumps(record))
    return target


def audit(directory: Path, *args: str) -> tuple[int, dict]:
    result = CliRunner().invoke(main, ["--dir", str(directory), "audit", *args, "--json"])
    return result.exit_code, json.loads(result.stdout)


def problems(directory: Path) -> set[tuple[int | None, str]]:
    code, data = audit(directory, "verify")
    assert (code == 0) == data["ok"] == (not data["problems"])
    return {(p["block"], p["kind"]) for p in data["problems"]}


def stored(directory: Path, cid: str) -> Path:
    return directory / "store" / cid[-2:] / cid


def test_a_clean_history_verifies(kept: Path) -> None:
    code, data = audit(kept, "verify")
    assert code == 0 and set(data) == {"ok", "blocks", "objects_checked", "problems"}
    assert data["ok"] and data["blocks"] == 6 and data["problems"] == []
    assert data["objects_checked"] > 2 * data["blocks"], "every model, metadata document and update"


def test_trace_shows_the_refused_attacks_and_the_votes_that_refused_them(kept: Path) -> None:
    code, data = audit(kept, "trace", "4")
    assert code == 0 and [step["block"] for step in data["path"]] == [1, 4]
    refused = data["path"][1]["siblings"]
    assert {b["block"] for b in refused} == {2, 3} and {b["state"] for b in refused} == {"rejected"}
    for block in refused:
        assert "rogue general" in block["general"]["name"]
        assert any("attacker" in u["name"] for u in block["updates"])
        assert block["votes"] and all(not v["accept"] and v["reason"] == "harmful-update" for v in block["votes"])
    accepted = data["path"][1]
    assert not any("attacker" in u["name"] for u in accepted["updates"])
    assert set(accepted["excluded"].values()) <= {"harmful-accuracy", "harmful-loss", "outlier"}
    assert sum(v["accept"] for v in accepted["votes"]) >= 3 and accepted["general"]["seat"] >= 1


def test_trace_finds_a_model_by_its_hash_and_by_its_cid(kept: Path) -> None:
    _, by_block = audit(kept, "trace", "4")
    model = by_block["path"][-1]["model"]
    assert audit(kept, "trace", model["sha256"])[1]["target"] == 4
    assert audit(kept, "trace", model["cid"])[1]["target"] == 4
    result = CliRunner().invoke(main, ["--dir", str(kept), "audit", "trace", "0x" + "ab" * 32])
    assert result.exit_code == 1 and "no model on the ledger" in result.output


def test_an_altered_a_removed_and_a_swapped_object_are_named(copy: Path) -> None:
    path = {step["block"]: step for step in audit(copy, "trace", "6")[1]["path"]}
    stored(copy, path[4]["model"]["cid"]).write_bytes(b"not the model")
    stored(copy, path[6]["updates"][0]["cid"]).unlink()
    shutil.copy(stored(copy, path[1]["model"]["cid"]), stored(copy, path[6]["model"]["cid"]))
    found = problems(copy)
    assert (4, "object-altered") in found
    assert (6, "object-missing") in found
    assert (6, "object-swapped") in found
    _, data = audit(copy, "verify")
    swapped = next(p for p in data["problems"] if p["kind"] == "object-swapped")
    assert "model of block 1" in swapped["detail"]


def test_a_vote_forged_in_the_chains_journal_is_named_with_its_block(copy: Path) -> None:
    """A member re-signs a validator's vote with the verdict flipped: the journal no longer
    replays, and the auditor names the block the vote was about."""
    journal = copy / "chain.journal"
    lines = journal.read_text().splitlines()
    ledger = Web3().eth.contract(abi=ledger_interface().abi)
    number, entry, tx, args = next(vote for vote in votes(lines, ledger) if vote[3]["id"] == 4)
    flipped = ledger.encode_abi("vote", [4, not args["accept"], args["metrics"], args["reveal"], args["nextCommit"]])
    forged = {k: v for k, v in tx.items() if k not in ("v", "r", "s")} | {"data": flipped}
    entry["raw"] = bytes(Account.sign_transaction(forged, Account.create().key).raw_transaction).hex()
    lines[number] = json.dumps(entry)
    journal.write_text("\n".join(lines) + "\n")
    code, data = audit(copy, "verify")
    assert code == 1 and [(p["block"], p["kind"]) for p in data["problems"]] == [(4, "journal")]
    assert f"chain.journal:{number + 1}" in data["problems"][0]["detail"]


def votes(lines: list[str], ledger: Any) -> Iterator[tuple[int, dict, dict, dict]]:
    """The journal's vote transactions: line index, entry, transaction, arguments."""
    for number, line in enumerate(lines):
        entry = json.loads(line)
        if entry.get("op") != "tx":
            continue
        tx = TypedTransaction.from_bytes(HexBytes(bytes.fromhex(entry["raw"]))).as_dict()
        try:
            function, args = ledger.decode_function_input(tx["data"])
        except ValueError:
            continue
        if function.fn_name == "vote":
            yield number, entry, tx, dict(args)


def test_settings_other_than_the_ledgers_are_named(kept: Path) -> None:
    audited = Audited.at(kept)
    with audited.opened() as (ledger, store):
        history = History.read(ledger)
        on_chain = CoalitionRules.from_document(store.get(digest_to_cid(history.params.rules_digest)))
        assert verify(history, store, on_chain).ok
        changed = replace(on_chain, gather_s=on_chain.gather_s + 5)
        result = verify(history, store, changed)
    assert [(p.block, p.kind) for p in result.problems] == [(1, "settings")]
    assert "gather_s" in result.problems[0].detail


def test_the_replays_catch_a_vote_left_out_and_a_general_not_drawn(kept: Path) -> None:
    """What the chain's events say is re-derived, not trusted: a history missing one vote of a
    final block no longer makes it final, and a round whose general is not the draw's is named."""
    with Audited.at(kept).opened() as (ledger, store):
        history = History.read(ledger)
        vote = next(e for e in history.events if e.name == "VoteCast" and e.args["id"] == 6)
        without = replace(history, events=[e for e in history.events if e is not vote])
        assert (6, "quorum") in {(p.block, p.kind) for p in verify(without, store).problems}
        opened = [e for e in history.events if e.name == "RoundOpened"]
        moved = replace(opened[3], args={**opened[3].args, "index": (opened[3].args["index"] + 1) % 4})
        redrawn = replace(history, events=[moved if e is opened[3] else e for e in history.events])
        assert (5, "draw") in {(p.block, p.kind) for p in verify(redrawn, store).problems}


def test_an_auditor_needs_a_coalition_or_a_kept_simulation(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["--dir", str(tmp_path), "audit", "verify"])
    assert result.exit_code == 1 and "neither a coalition" in result.output


def test_the_trace_of_a_kept_run_is_also_readable_by_a_person(kept: Path) -> None:
    result = CliRunner().invoke(main, ["--dir", str(kept), "audit", "trace", "4"])
    assert result.exit_code == 0
    assert "rejected" in result.output and "reject by validator-" in result.output
    with Audited.at(kept).opened() as (ledger, _store):
        assert trace(History.read(ledger), "4")["target"] == 4, "the store is needed only for the exclusions"


def test_a_mode_b_history_verifies_with_its_grants(tmp_path: Path) -> None:
    """Every model and update sealed for the participants of its moment, one member voted out:
    the grants agree with the roles at each time."""
    config = SimulationConfig(members=4, validators=4, rounds=3, mode="B", remove_member_at=2)
    run_simulation(config, "inprocess", keep=tmp_path / "run")
    code, data = audit(tmp_path / "run", "verify")
    assert code == 0 and data["ok"], data["problems"]


def test_a_mode_b_key_granted_to_an_outsider_is_named(tmp_path: Path) -> None:
    """A member seals its update for an account that holds no role as well as for the coalition:
    the object is what the chain committed to, and the grant is what is wrong."""
    chain = connect("inprocess:memory")
    try:
        store = open_store("local", tmp_path)
        simulation = Simulation(SimulationConfig(members=4, validators=4, rounds=2, mode="B"), chain, store)
        simulation.run()
        ledger, member = simulation.ctx.ledger, simulation.coalition.members[0]
        head = ledger.cursor().head
        grantees = {simulation.coalition.outsider.address: ParticipantKey.generate(DEFAULT_KEM).public_bytes()}
        blob, _, _ = seal(b"an update", update_context(ledger, head, member.address), DEFAULT_KEM, grantees)
        update = ledger.register_update(member, head, sha256(blob), cid_digest(store.put(blob)), 100, 16)
        history = History.read(ledger)
        result = verify(history, store)
        assert result.ok, "the chain and the store agree"
        check_grants(ledger, store, result)
    finally:
        chain.close()
    assert [(p.block, p.kind) for p in result.problems] == [(head, "grant")]
    assert simulation.coalition.outsider.address in result.problems[0].detail and update > 0
