"""Mode B end to end on the embedded default: who can read what, and what a tampered candidate
gets from the validators."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

import tclearn.privacy.vault as vault_module
from tclearn.chain.backends import connect
from tclearn.fba.propose import build_candidate, propose
from tclearn.privacy.access import access_log
from tclearn.privacy.envelope import SealContext, SealError, is_sealed, open_sealed, read_header
from tclearn.privacy.keys import ParticipantKey
from tclearn.simulate import Simulation, SimulationConfig, SimulationResult
from tclearn.store import open_store
from tests.conftest import chain_bytes

pytestmark = pytest.mark.slow
CONFIG = SimulationConfig(rounds=4, mode="B", remove_member_at=3, kem="x25519", seed=3)


@dataclass
class Run:
    sim: Simulation
    result: SimulationResult
    store_dir: Path
    data_keys: list[bytes]
    seals: list[tuple[str, frozenset[str]]]  # every key sealed: its id, its grantees


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    store_dir = tmp_path_factory.mktemp("store")
    data_keys: list[bytes] = []
    seals: list[tuple[str, frozenset[str]]] = []
    real_seal = vault_module.seal

    def recording_seal(plaintext, context, kem, grantees):  # type: ignore[no-untyped-def]
        sealed, key, key_id = real_seal(plaintext, context, kem, grantees)
        data_keys.append(key)
        seals.append((key_id, frozenset(grantees)))
        return sealed, key, key_id

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(vault_module, "seal", recording_seal)
        sim = Simulation(CONFIG, connect("inprocess:memory"), open_store("local", store_dir))
        result = sim.run()
    yield Run(sim, result, store_dir, data_keys, seals)
    sim.chain.close()


def stored_objects(run: Run) -> list[bytes]:
    return [p.read_bytes() for p in run.store_dir.rglob("Qm*")]


def public_bytes(run: Run) -> bytes:
    """Everything on chain: every transaction's calldata and every log's data and topics."""
    return chain_bytes(run.sim.chain.w3)


def test_the_removed_member_reads_no_model_finalised_after_its_removal(run: Run) -> None:
    removal = run.result.removal
    assert removal is not None and removal.round == 3
    assert removal.models_before >= 1 and removal.read_before == removal.models_before
    assert removal.models_after >= 1 and removal.read_after == 0


def test_a_non_member_holding_every_public_byte_decrypts_no_model(run: Run) -> None:
    outsider_key = ParticipantKey.generate("x25519")
    outsider = run.sim.coalition.outsider.address
    sealed = [blob for blob in stored_objects(run) if is_sealed(blob)]
    assert len(sealed) >= CONFIG.rounds * 2  # updates and models
    for blob in sealed:
        header, _ = read_header(blob)
        context = SealContext(**header.context)
        with pytest.raises(SealError) as refused:
            open_sealed(blob, context, outsider_key, outsider)
        assert refused.value.reason == "no-key"


def test_no_plaintext_weights_and_no_key_material_in_the_store_or_on_chain(run: Run) -> None:
    ledger, ctx = run.sim.ctx.ledger, run.sim.ctx
    secrets = [c.vault.key.secret for c in run.sim.contexts.values() if c.vault] + run.data_keys
    assert len(run.data_keys) >= CONFIG.rounds * 2
    plaintext_chunks = []
    for block in ledger.lineage()[:-1]:  # every final model but the genesis (a seeded random start)
        data, _ = ctx.block_weights(block)
        plaintext_chunks += [data[i : i + 32] for i in range(len(data) // 2, len(data) - 32, len(data) // 8)]
    haystacks = [*stored_objects(run), public_bytes(run)]
    for needle in [*secrets, *plaintext_chunks]:
        assert not any(needle in hay for hay in haystacks)


def test_the_chain_commits_to_the_sealed_object_never_the_plaintext(run: Run) -> None:
    ledger, ctx = run.sim.ctx.ledger, run.sim.ctx
    import hashlib

    head = ledger.block_record(ledger.cursor().head)
    plaintext, _ = ctx.block_weights(head.id)
    assert head.model_hash == hashlib.sha256(ctx.stored_bytes(head)).digest()
    assert head.model_hash != hashlib.sha256(plaintext).digest()


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Simulation]:
    sim = Simulation(
        replace(CONFIG, rounds=1, remove_member_at=None), connect("inprocess:memory"), open_store("local", tmp_path)
    )
    sim.run()
    head = sim.ctx.ledger.cursor().head
    for index in range(CONFIG.members):
        sim.submit(index, head, seed=index)
    yield sim
    sim.chain.close()


def votes_on_a_tampered_candidate(sim: Simulation, tamper) -> set[str]:  # type: ignore[no-untyped-def]
    """The general builds the round's candidate with `tamper` applied to its context, proposes
    it, and every validator checks it: the reasons they would vote with."""
    ledger = sim.ctx.ledger
    general = next(v for v in sim.coalition.validators if v.address == ledger.current_round().general)
    voter = next(v for v in sim.voters if v.account.address == general.address)
    ctx = tamper(sim.context_of(general.address))
    screened = build_candidate(ctx, voter.evaluator, voter.strategy)
    assert screened.candidate is not None
    block = propose(ctx, general, screened.candidate)
    return {v.check(block).reason for v in sim.voters}


def test_a_key_withheld_from_a_member_is_refused_by_every_validator(fresh: Simulation) -> None:
    left_out = fresh.coalition.members[0].address

    def withhold(ctx):  # type: ignore[no-untyped-def]
        vault = replace(ctx.vault)
        everyone = vault.grantees
        vault.grantees = lambda readers, author: {a: k for a, k in everyone(readers, author).items() if a != left_out}
        return replace(ctx, vault=vault)

    assert votes_on_a_tampered_candidate(fresh, withhold) == {"grants"}


def test_a_model_sealed_for_another_round_is_refused_by_every_validator(fresh: Simulation) -> None:
    def elsewhere(ctx):  # type: ignore[no-untyped-def]
        vault = replace(ctx.vault)
        real = vault.seal
        vault.seal = lambda data, context: real(data, replace(context, round=context.round + 1))
        return replace(ctx, vault=vault)

    assert votes_on_a_tampered_candidate(fresh, elsewhere) == {"sealed-elsewhere"}


def test_mode_b_learns_exactly_what_mode_a_does(tmp_path: Path) -> None:
    """Sealing changes what is stored, never what is learnt: the same seed, the same model."""
    same = replace(CONFIG, rounds=2, remove_member_at=None)
    accuracies = {}
    for mode in ("A", "B"):
        sim = Simulation(
            replace(same, mode=mode, kem=None),
            connect("inprocess:memory"),
            open_store("local", Path(f"/tmp/tclearn-ab-{mode}")),
        )
        accuracies[mode] = sim.run().final_accuracy
        sim.chain.close()
    assert accuracies["A"] == accuracies["B"]


def test_audit_access_lists_exactly_the_grants_that_happened(run: Run) -> None:
    log = access_log(run.sim.ctx.ledger, run.sim.ctx.store)
    listed = {(g["key_id"], g["account"]) for g in log["grants"]}
    assert listed == {(key_id, account) for key_id, grantees in run.seals for account in grantees}
    assert log["unreadable"] == []
    removal = run.result.removal
    assert removal is not None
    assert [(r["account"], r["role"]) for r in log["revocations"]] == [(removal.account, "member")]
    models = [g for g in log["grants"] if g["object"] == "model"]
    assert {g["role"] for g in models} == {"member", "validator"}
    after = [g for g in models if g["account"] == removal.account and g["blocks"][0] > 3]
    assert after == [], "no grant to the removed member after its removal"
    assert all(g["tx"].startswith(("0x", "")) and g["time"] > 0 for g in log["grants"])


@pytest.mark.parametrize("history", [False, True])
def test_a_joiner_reads_from_its_joining_point_and_history_only_if_the_rules_say_so(
    history: bool, tmp_path: Path
) -> None:
    config = replace(CONFIG, rounds=4, remove_member_at=None, join_member_at=3, joiners_read_history=history)
    sim = Simulation(config, connect("inprocess:memory"), open_store("local", tmp_path))
    try:
        joined = sim.run().joining
        assert joined is not None and joined.models_before >= 1 and joined.models_after >= 1
        assert joined.read_after == joined.models_after, "every model from its joining point on"
        assert joined.read_before == (joined.models_before if history else 0)
        log = access_log(sim.ctx.ledger, sim.ctx.store)
        from_history = [g for g in log["grants"] if g["object"] == "history"]
        assert len(from_history) == (joined.models_before if history else 0)
        assert all(g["account"] == joined.account and g["role"] == "member" for g in from_history)
        assert {g["granted_by"] for g in from_history} <= set(sim.ctx.ledger.validators())
    finally:
        sim.chain.close()
