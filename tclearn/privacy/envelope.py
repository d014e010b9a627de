"""The sealed object: how a mode-B model or update is stored, and the only way it is read.

    MAGIC · header length (4 bytes, big-endian) · header (canonical JSON) · AES-256-GCM ciphertext

The header says which KEM wrapped the data key, the key's id (random: it says nothing about
the key), the context the object was sealed for (coalition, purpose, parent block, round,
author), the nonce, and one wrap of the data key per grantee. The context is bound to the
ciphertext as associated data, so an object sealed for one block or one member does not open
as another's; each wrap is bound to its grantee and to that context (`wrap_info`).

The chain commits to the SHA-256 of the whole object, never of the plaintext: a plaintext hash
would let anyone confirm a guess of the model. Integrity is checked before any decryption
(`fetch_verified`), and the AEAD tag checks it again with the key.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eth_utils import to_checksum_address

from tclearn.model.weights import ModelRejected
from tclearn.privacy.keys import KeyWrapError, ParticipantKey, wrap

MAGIC = b"TCLEARN-B\x01"
MAX_HEADER = 4 << 20  # bytes: one wrap per participant, ~1.2 kB each with the hybrid KEM


class SealError(ModelRejected):
    """A sealed object that cannot or must not be opened. `reason`: `malformed` (not a sealed
    object), `sealed-elsewhere` (sealed for another block, purpose or author: a swapped
    object), `no-key` (no wrap of its key opens for this participant) or `tampered` (the
    ciphertext fails its authentication tag)."""


@dataclass(frozen=True)
class SealContext:
    """What an object is for; bound to its ciphertext and to every wrap of its key."""

    coalition: str  # the ledger's address
    purpose: str  # "model" or "update"
    parent: int  # the block it was trained or aggregated on
    round: int  # the round a model was proposed in; 0 for an update
    author: str  # the general who proposed a model, the member who trained an update

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"coalition": self.coalition.lower(), "author": self.author.lower()}

    def digest(self) -> bytes:
        return hashlib.sha256(_canonical(self.as_dict())).digest()


@dataclass(frozen=True)
class Header:
    kem: str
    key_id: str
    context: dict[str, Any]
    nonce: str
    grants: dict[str, str]  # checksummed address -> hex wrap of the data key

    def associated_data(self) -> bytes:
        bound = {"kem": self.kem, "key_id": self.key_id, "context": self.context, "nonce": self.nonce}
        return MAGIC + _canonical(bound)


def wrap_info(key_id: str, account: str, context: dict[str, Any]) -> bytes:
    """HPKE `info` of one wrap: the key, its grantee and the object's context."""
    return b"tclearn-b/wrap/1|" + key_id.encode() + b"|" + account.lower().encode() + b"|" + _canonical(context)


def seal(plaintext: bytes, context: SealContext, kem: str, grantees: dict[str, bytes]) -> tuple[bytes, bytes, str]:
    """`plaintext` sealed under a fresh data key wrapped for each grantee (address -> public
    key). Returns the object, the data key (to be forgotten once used) and its id."""
    data_key, nonce, key_id = AESGCM.generate_key(256), os.urandom(12), os.urandom(16).hex()
    ctx = context.as_dict()
    grants = {
        to_checksum_address(a): wrap(kem, data_key, public, wrap_info(key_id, a, ctx)).hex()
        for a, public in sorted(grantees.items())
    }
    header = Header(kem, key_id, ctx, nonce.hex(), grants)
    ciphertext = AESGCM(data_key).encrypt(nonce, plaintext, header.associated_data())
    encoded = _canonical(asdict(header))
    return MAGIC + len(encoded).to_bytes(4, "big") + encoded + ciphertext, data_key, key_id


def is_sealed(blob: bytes) -> bool:
    return blob.startswith(MAGIC)


def read_header(blob: bytes) -> tuple[Header, bytes]:
    """The header and the ciphertext of a sealed object; readable without any key."""
    if not is_sealed(blob) or len(blob) < len(MAGIC) + 4:
        raise SealError("malformed", "not a sealed TCLearn-B object")
    start = len(MAGIC) + 4
    size = int.from_bytes(blob[len(MAGIC) : start], "big")
    if size > MAX_HEADER or start + size > len(blob):
        raise SealError("malformed", f"a sealed object's header of {size} bytes does not fit")
    try:
        raw = json.loads(blob[start : start + size])
        header = Header(
            str(raw["kem"]), str(raw["key_id"]), dict(raw["context"]), str(raw["nonce"]), dict(raw["grants"])
        )
        bytes.fromhex(header.nonce)
    except (ValueError, KeyError, TypeError) as exc:
        raise SealError("malformed", "a sealed object's header is not a TCLearn-B header") from exc
    return header, blob[start + size :]


def data_key(header: Header, key: ParticipantKey, account: str, wrapped: bytes | None = None) -> bytes:
    """The object's data key, unwrapped with this participant's key: from the object's own
    grants, or from `wrapped` (a wrap granted later, bound to the same key and context)."""
    if wrapped is None:
        own = header.grants.get(to_checksum_address(account))
        if own is None:
            raise SealError("no-key", f"{account} holds no grant of key {header.key_id}")
        wrapped = bytes.fromhex(own)
    try:
        return key.unwrap(wrapped, wrap_info(header.key_id, account, header.context))
    except (KeyWrapError, ValueError) as exc:
        raise SealError("no-key", f"the wrap of key {header.key_id} for {account} does not open with its key") from exc


def open_sealed(
    blob: bytes, expected: SealContext, key: ParticipantKey, account: str, dek: bytes | None = None
) -> bytes:
    """The plaintext of a sealed object, refused unless it was sealed for `expected` and its
    ciphertext authenticates. `dek`: the data key, when it came by another grant."""
    header, ciphertext = read_header(blob)
    if header.context != expected.as_dict():
        raise SealError("sealed-elsewhere", f"sealed for {header.context}, expected {expected.as_dict()}")
    dek = dek if dek is not None else data_key(header, key, account)
    try:
        return AESGCM(dek).decrypt(bytes.fromhex(header.nonce), ciphertext, header.associated_data())
    except (InvalidTag, ValueError) as exc:
        raise SealError("tampered", f"object of key {header.key_id} fails its authentication tag") from exc


def _canonical(document: dict[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
