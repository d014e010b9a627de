"""Sealed objects: what opens, for whom, and the reason everything else is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_account import Account

from tclearn.errors import KeystoreError
from tclearn.privacy.envelope import MAGIC, SealContext, SealError, open_sealed, read_header, seal
from tclearn.privacy.keys import KEMS, ParticipantKey, load_key, save_key

ALICE, BOB, EVE = (Account.create().address for _ in range(3))
CONTEXT = SealContext(Account.create().address, "model", 4, 5, ALICE)
PLAINTEXT = b"weights " * 1000


@pytest.fixture(scope="module", params=list(KEMS))
def keys(request: pytest.FixtureRequest) -> dict[str, ParticipantKey]:
    return {who: ParticipantKey.generate(request.param) for who in (ALICE, BOB, EVE)}


def sealed_for(keys: dict[str, ParticipantKey], *grantees: str) -> bytes:
    kem = keys[ALICE].kem
    blob, _, _ = seal(PLAINTEXT, CONTEXT, kem, {a: keys[a].public_bytes() for a in grantees})
    return blob


def reason(call) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(SealError) as caught:
        call()
    return caught.value.reason


def test_each_grantee_opens_it_and_no_one_else(keys: dict[str, ParticipantKey]) -> None:
    blob = sealed_for(keys, ALICE, BOB)
    assert open_sealed(blob, CONTEXT, keys[ALICE], ALICE) == PLAINTEXT
    assert open_sealed(blob, CONTEXT, keys[BOB], BOB) == PLAINTEXT
    assert reason(lambda: open_sealed(blob, CONTEXT, keys[EVE], EVE)) == "no-key"
    assert PLAINTEXT[:64] not in blob


def test_a_key_wrapped_for_someone_else_does_not_open(keys: dict[str, ParticipantKey]) -> None:
    """Eve copies Bob's wrap under her own address: it is bound to Bob and to Bob's key."""
    blob = sealed_for(keys, ALICE, BOB)
    header, ciphertext = read_header(blob)
    grants = dict(header.grants) | {EVE: header.grants[BOB]}
    forged = json.dumps({**header.__dict__, "grants": grants}, sort_keys=True, separators=(",", ":")).encode()
    swapped = MAGIC + len(forged).to_bytes(4, "big") + forged + ciphertext
    assert reason(lambda: open_sealed(swapped, CONTEXT, keys[EVE], EVE)) == "no-key"
    assert open_sealed(swapped, CONTEXT, keys[BOB], BOB) == PLAINTEXT


def test_a_modified_ciphertext_fails_its_tag(keys: dict[str, ParticipantKey]) -> None:
    blob = bytearray(sealed_for(keys, ALICE))
    blob[-40] ^= 1
    assert reason(lambda: open_sealed(bytes(blob), CONTEXT, keys[ALICE], ALICE)) == "tampered"


def test_an_object_sealed_for_another_block_is_refused(keys: dict[str, ParticipantKey]) -> None:
    blob = sealed_for(keys, ALICE)
    for other in (
        SealContext(CONTEXT.coalition, "model", 3, 5, ALICE),  # another parent
        SealContext(CONTEXT.coalition, "update", 4, 5, ALICE),  # another purpose
        SealContext(CONTEXT.coalition, "model", 4, 5, BOB),  # another author
    ):
        assert reason(lambda o=other: open_sealed(blob, o, keys[ALICE], ALICE)) == "sealed-elsewhere"


def test_rewriting_the_context_in_the_header_fails_the_tag(keys: dict[str, ParticipantKey]) -> None:
    blob = sealed_for(keys, ALICE)
    header, ciphertext = read_header(blob)
    other = SealContext(CONTEXT.coalition, "model", 9, 9, ALICE)
    doc = {**header.__dict__, "context": other.as_dict()}
    encoded = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    moved = MAGIC + len(encoded).to_bytes(4, "big") + encoded + ciphertext
    assert reason(lambda: open_sealed(moved, other, keys[ALICE], ALICE)) in ("tampered", "no-key")


@pytest.mark.parametrize(
    "blob", [b"", b"not sealed", MAGIC, MAGIC + (10**9).to_bytes(4, "big"), MAGIC + (5).to_bytes(4, "big") + b"{}{}{"]
)
def test_malformed_objects_are_refused_with_a_reason(blob: bytes, keys: dict[str, ParticipantKey]) -> None:
    assert reason(lambda: open_sealed(blob, CONTEXT, keys[ALICE], ALICE)) == "malformed"


def test_the_private_key_is_encrypted_at_rest_and_never_printed(tmp_path: Path) -> None:
    key = ParticipantKey.generate()
    path = tmp_path / "alice.hpke.json"
    save_key(path, key, "correct horse", scrypt_n=2**10)
    assert key.secret.hex() not in path.read_text()
    assert key.secret.hex() not in repr(key) and key.secret.hex()[:16] not in repr(key)
    assert load_key(path, "correct horse") == key
    assert path.stat().st_mode & 0o077 == 0
    with pytest.raises(KeystoreError, match="wrong password"):
        load_key(path, "wrong")
    with pytest.raises(KeystoreError, match="refusing to overwrite"):
        save_key(path, key, "x", scrypt_n=2**10)
