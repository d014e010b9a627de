"""Mode C end to end: a coalition whose members never see the model, on the embedded default."""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
import tenseal as ts
from eth_utils import keccak, to_checksum_address

from tclearn.audit.coalition import Audited
from tclearn.audit.history import History
from tclearn.audit.report import Report, excluded_by_block, write_report
from tclearn.audit.verify import verify
from tclearn.chain.backends import connect
from tclearn.he import ckks, head, wire
from tclearn.he.records import AGGREGATE, CORRECTION, VOTE, dump_head
from tclearn.he.simulation import EncryptedSimulation
from tclearn.he.trace import whose
from tclearn.simulate import SimulationConfig, run_simulation
from tclearn.store import open_store
from tclearn.store.cid import cid_digest, digest_to_cid
from tests.conftest import chain_bytes

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run():
    scratch = Path(tempfile.mkdtemp(prefix="tclearn-mode-c-"))
    chain = connect("inprocess:memory")
    config = SimulationConfig(mode="C", rounds=3, members=3, validators=3, seed=0)
    simulation = EncryptedSimulation(config, chain, open_store("local", scratch / "store"), scratch)
    result = simulation.run()
    yield simulation, result, scratch
    chain.close()


def test_the_coalition_learns_as_the_same_head_in_clear(run) -> None:
    _, result, _ = run
    assert result.accepted == 3 and result.honest_accepted == result.honest_proposed == 9
    assert result.final_accuracy >= 0.9
    assert abs(result.final_accuracy - result.plaintext_accuracy) <= 0.03
    assert result.summary()["mode"] == "C" and "plaintext_accuracy" in result.summary()


def test_every_copy_is_on_chain_with_its_holders_key(run) -> None:
    simulation, _, _ = run
    ledger = simulation.ctx.ledger
    participants = {a.address for a in [*simulation.coalition.members, *simulation.coalition.validators]}
    for block in ledger.lineage(ledger.cursor().head):
        copies = ledger.copies_issued(blockId=block)
        holders = {c.participant for c in copies}
        assert {v.address for v in simulation.coalition.validators} <= holders
        for copy in copies:
            assert copy.fingerprint == ledger.context_of(copy.participant)
            assert simulation.records.copy_of(block, copy.participant) is not None
    assert {c.participant for c in ledger.copies_issued(blockId=1)} == participants


def test_every_vote_rests_on_a_recorded_decryption(run) -> None:
    simulation, _, _ = run
    ledger = simulation.ctx.ledger
    asked = [r for r in ledger.decryption_requests() if r.purpose == keccak(text=VOTE)]
    assert asked and all(r.answer is not None for r in asked)
    for block in ledger.lineage(ledger.cursor().head)[:-1]:  # every block but genesis
        for vote in ledger.votes(block):
            voter = to_checksum_address(vote["validator"])
            assert any(r.requester == voter and r.block == block for r in asked)
    store = simulation.ctx.store
    for request in asked:  # the record names exactly what was decrypted: the outputs sent
        assert request.answer.input_hash == hashlib.sha256(store.get(digest_to_cid(request.cid_digest))).digest()
    aggregates = [r for r in ledger.decryption_requests() if r.purpose == keccak(text=AGGREGATE)]
    for block in ledger.lineage(ledger.cursor().head)[:-1]:  # and for an aggregate, its updates
        record = ledger.block_record(block)
        decrypted = b"".join(ledger.update_record(u).weights_hash for u in record.update_ids)
        assert hashlib.sha256(decrypted).digest() in {r.answer.input_hash for r in aggregates if r.answer}


def test_nobody_but_the_supervisor_decrypts(run) -> None:
    simulation, _, _ = run
    member = simulation.coalition.members[0].address
    context = simulation.records.public_context(member)
    with pytest.raises(ckks.HEError, match="only the supervisor decrypts"):
        context.require_secret()


def test_no_secret_key_and_no_model_in_clear_reach_the_store_or_the_chain(run) -> None:
    simulation, _, scratch = run
    ledger, supervisor = simulation.ctx.ledger, simulation.supervisor
    needles = []
    for participant in supervisor.keys.fingerprints:
        key_file = scratch / f"secret-{participant}"
        supervisor.keys.context(participant).context.secret_key().data.save(str(key_file))
        serialised = key_file.read_bytes()
        needles += [serialised[i : i + 32] for i in range(1000, len(serialised) - 32, len(serialised) // 4)]
    for block in ledger.lineage(ledger.cursor().head)[:-1]:
        plain = dump_head(supervisor.head_weights(block))
        needles.append(plain[-64:-32])  # the weights' bytes, past the safetensors header
    haystacks = [p.read_bytes() for p in (scratch / "store").rglob("*") if p.is_file()]
    haystacks.append(chain_bytes(simulation.chain.w3))
    assert needles and haystacks
    assert not [n for n in needles for h in haystacks if n in h]


def test_a_rejected_candidate_never_moves_the_model() -> None:
    """A member scaling its update tenfold: the general cannot leave it out (it sees only masked
    ciphertexts), so the validators' vote is what keeps the model where it was."""
    scratch = Path(tempfile.mkdtemp(prefix="tclearn-mode-c-attack-"))
    chain = connect("inprocess:memory")
    try:
        config = SimulationConfig(mode="C", rounds=3, members=3, validators=3, attack="scale", attackers=1)
        simulation = EncryptedSimulation(config, chain, open_store("local", scratch / "store"), scratch)
        result = simulation.run()
        history = History.read(simulation.ctx.ledger)
        audited = verify(history, simulation.ctx.store)
        # the supervisor issues a member a copy of the refused candidate: an auditor sees it
        ledger, member = simulation.ctx.ledger, simulation.coalition.members[0].address
        refused = next(b.id for b in history.blocks().values() if b.state == "rejected")
        ledger.issue_copies(simulation.supervisor.account, refused, [(member, b"\x01" * 32, b"\x02" * 32)])
        leaked = verify(History.read(ledger), simulation.ctx.store)
    finally:
        chain.close()
    assert any(r.outcome == "rejected" for r in result.history)
    # after a refusal the next attempt aggregates its own updates, under fresh masks
    assert all(r.block is not None for r in result.history)
    # validators hold copies of every candidate they voted on, the refused one included
    assert audited.ok, audited.problems
    assert any(p.kind == "copy" and p.block == refused and "not final" in p.detail for p in leaked.problems)
    previous = simulation.accuracy(np.zeros(simulation.layout.shape))
    for record in result.history:
        if record.outcome != "final":
            assert record.global_accuracy == previous, "a refused candidate moved the head"
        assert record.global_accuracy >= previous - 0.05
        previous = record.global_accuracy


def test_whose_copy_by_hash_and_after_rerandomisation(run) -> None:
    simulation, _, _ = run
    ledger, records, keystore = simulation.ctx.ledger, simulation.records, simulation.supervisor.keys
    member = simulation.coalition.members[1].address
    block = ledger.copies_issued(participant=member)[-1].block
    copy = records.copy_of(block, member)
    exact = whose(ledger, copy)
    assert exact is not None and (exact.participant, exact.block, exact.how) == (member, block, "hash")
    assert exact.fingerprint == ledger.context_of(member).hex()

    public = records.public_context(member)
    container = head.load_copy(copy, public, simulation.layout)
    zero = ts.ckks_vector(public.context, [0.0] * ckks.SLOTS)
    disguised = wire.pack("copy", public, [v + zero for v in container.vectors], **container.meta)
    assert whose(ledger, disguised) is None, "the chain alone knows only exact copies"
    found = whose(ledger, disguised, keystore, simulation.layout)
    assert found is not None and (found.participant, found.block, found.how) == (member, block, "mark")
    assert found.match == 1.0

    other = simulation.coalition.members[0].address
    relabelled = wire.rebind(disguised, ledger.context_of(other))  # the holder lies in the header
    found = whose(ledger, relabelled, keystore, simulation.layout)
    assert found is not None and found.participant == member

    with pytest.raises(ckks.HEError) as refused:
        whose(ledger, b"not a copy", keystore, simulation.layout)
    assert refused.value.reason == "malformed"


@pytest.mark.anvil
@pytest.mark.ipfs
def test_simulate_mode_c_on_anvil_and_a_real_ipfs_node(anvil_url: str, ipfs_url: str, tmp_path: Path) -> None:
    """The same run on real parts: anvil's JSON-RPC and js-ipfs's HTTP API, contexts of 35 MB
    and copies stored through it; an auditor then verifies the whole history from them."""
    config = SimulationConfig(mode="C", rounds=2, members=3, validators=3, seed=1)
    result = run_simulation(config, anvil_url, ipfs_url, keep=tmp_path / "run")
    assert result.accepted == 2 and result.honest_accepted == result.honest_proposed == 6
    assert abs(result.final_accuracy - result.plaintext_accuracy) <= 0.03
    verified = Audited.at(tmp_path / "run").verify()
    assert verified.ok, verified.problems
    assert verified.objects_checked > 3 * 3 * 2, "models, updates, copies, contexts and decryption answers"


def test_an_auditor_verifies_the_copies_and_the_decryption_log(run) -> None:
    simulation, _, _ = run
    result = verify(History.read(simulation.ctx.ledger), simulation.ctx.store)
    assert result.ok, result.problems
    copies = len(simulation.ctx.ledger.copies_issued())
    assert result.objects_checked >= copies + len(simulation.ctx.ledger.decryption_requests())


def test_the_report_lists_every_issued_copy(run, tmp_path: Path) -> None:
    simulation, _, _ = run
    history = History.read(simulation.ctx.ledger)
    result = verify(history, simulation.ctx.store)
    report = Report("mode C", history, {}, result, excluded_by_block(history.blocks(), simulation.ctx.store), [], "")
    page = (write_report(report, tmp_path)[0]).read_text()
    copies = page.split("<table id='copies'>")[1].split("</table>")[0]
    assert copies.count("<tr>") == 1 + len(simulation.ctx.ledger.copies_issued())


def test_bad_requests_are_answered_refused_and_never_stall_the_supervisor(run) -> None:
    simulation, _, _ = run
    ledger, store, supervisor = simulation.ctx.ledger, simulation.ctx.store, simulation.supervisor
    validator, member = simulation.coalition.validators[0], simulation.coalition.members[0]
    head = ledger.cursor().head
    bad = {
        "garbage document": (validator, AGGREGATE, b"\xff not json"),
        "wrong types": (validator, AGGREGATE, json.dumps({"parent": None, "updates": "x"}).encode()),
        "an update of another block": (validator, AGGREGATE, json.dumps({"parent": head, "updates": [1]}).encode()),
        "a member asking for an aggregate": (member, AGGREGATE, json.dumps({"parent": head, "updates": [1]}).encode()),
        "outputs that are not a container": (validator, VOTE, b"not a ciphertext"),
        "an aggregate of another attempt": (
            validator,
            AGGREGATE,
            json.dumps({"parent": head, "attempt": [99, 0], "updates": [1], "absent": [], "corrections": []}).encode(),
        ),
        "a correction that is not a document": (member, CORRECTION, b"\xff not json"),
        "a correction whose container is missing": (
            member,
            CORRECTION,
            json.dumps({"parent": head, "correction_cid": "QmNothing", "correction_hash": "00"}).encode(),
        ),
        "a correction that is an update": (member, CORRECTION, correction_of(simulation, member)),
        "a correction from a validator": (validator, CORRECTION, correction_of(simulation, member)),
    }
    asked = {
        why: ledger.request_decryption(account, purpose, head, cid_digest(store.put(data)))
        for why, (account, purpose, data) in bad.items()
    }
    while supervisor.pass_() is not None:
        pass
    answers = {r.id: r.answer for r in ledger.decryption_requests()}
    for why, request in asked.items():
        answer = answers[request]
        assert answer is not None, f"{why}: never answered"
        refusal = simulation.records.get_json(answer.answer_cid_digest)
        assert "refused" in refusal, f"{why}: {refusal}"


def correction_of(simulation: EncryptedSimulation, member) -> bytes:
    """A correction document whose container is one of `member`'s updates (kind `update`)."""
    update = next(u for u in simulation.ctx.ledger.registered_updates() if u.member == member.address)
    data = simulation.ctx.store.get(digest_to_cid(update.cid_digest))
    document = {"parent": simulation.ctx.ledger.cursor().head, "attempt": [1, 0], "absent": []}
    cid = simulation.ctx.store.put(data)
    return json.dumps({**document, "correction_cid": cid, "correction_hash": hashlib.sha256(data).hexdigest()}).encode()


def test_a_validator_gets_one_batch_of_labels_per_block(run) -> None:
    """A second vote request on a block it was answered for is refused: labels of crafted
    inputs would teach it its copy's weights and mark a batch at a time."""
    simulation, _, _ = run
    ledger, store, supervisor, records = (
        simulation.ctx.ledger,
        simulation.ctx.store,
        simulation.supervisor,
        simulation.records,
    )
    validator = simulation.coalition.validators[0]
    answered = [r for r in records.requests(VOTE, validator.address) if r.answer is not None]
    block = answered[-1].block
    context, layout = records.public_context(validator.address), records.layout
    copy = head.load_copy(records.copy_of(block, validator.address), context, layout)
    probes = np.zeros((4, layout.features))
    outputs = head.infer(copy, probes, context, layout)
    again = ledger.request_decryption(validator, VOTE, block, cid_digest(store.put(outputs)))
    while supervisor.pass_() is not None:
        pass
    answer = next(r.answer for r in ledger.decryption_requests() if r.id == again)
    assert answer is not None
    assert records.get_json(answer.answer_cid_digest)["refused"] == "already-answered"
