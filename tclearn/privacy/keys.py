"""Participants' HPKE key pairs: how a data key reaches exactly the participants meant to read.

A coalition picks one KEM for everyone (`CoalitionRules.kem`): the hybrid post-quantum
`mlkem768-x25519` (ML-KEM-768 with X25519, the default: medical data stays sensitive for
decades, and a wrapped key recorded today must not open to a quantum computer later) or the
classical `x25519`. The KDF is HKDF-SHA256 and the AEAD AES-256-GCM in both. A wrap is bound to
its recipient and to the object it opens (`info`): a key wrapped for someone else does not open.

The private key lives only in its keystore file, encrypted under the participant's keystore
password (scrypt, then AES-256-GCM), like the account's key beside it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from tclearn.errors import KeystoreError, TCLearnError

KEMS = {"mlkem768-x25519": hpke.KEM.MLKEM768_X25519, "x25519": hpke.KEM.X25519}
DEFAULT_KEM = "mlkem768-x25519"
KEYSTORE_FORMAT = "tclearn-hpke-keystore/1"
_X25519 = 32
_MLKEM768_PUBLIC, _MLKEM768_SEED = 1184, 64
SCRYPT_N = 2**15  # ~0.1 s per unlock; tests may lower it


class KeyWrapError(TCLearnError):
    """A wrapped data key that does not open with this participant's private key: wrapped for
    someone else, for another object, or altered."""


def suite(kem: str) -> hpke.Suite:
    if kem not in KEMS:
        raise KeystoreError(f"unknown KEM {kem!r}: one of {', '.join(KEMS)}")
    return hpke.Suite(KEMS[kem], hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)


@dataclass(frozen=True)
class ParticipantKey:
    """One participant's private HPKE key (held in memory only once unlocked)."""

    kem: str
    secret: bytes  # x25519: the raw key; hybrid: ML-KEM seed (64) then the raw X25519 key

    @classmethod
    def generate(cls, kem: str = DEFAULT_KEM) -> ParticipantKey:
        suite(kem)  # an unknown KEM is refused here
        x = x25519.X25519PrivateKey.generate().private_bytes_raw()
        if kem == "x25519":
            return cls(kem, x)
        return cls(kem, mlkem.MLKEM768PrivateKey.generate().private_bytes_raw() + x)

    def _private(self) -> x25519.X25519PrivateKey | hpke.MLKEM768X25519PrivateKey:
        x = x25519.X25519PrivateKey.from_private_bytes(self.secret[-_X25519:])
        if self.kem == "x25519":
            return x
        return hpke.MLKEM768X25519PrivateKey(mlkem.MLKEM768PrivateKey.from_seed_bytes(self.secret[:_MLKEM768_SEED]), x)

    def x25519(self) -> x25519.X25519PrivateKey:
        """The X25519 key alone: in mode C a member agrees its secure-aggregation masks with it
        (under its own HKDF label, `tclearn.he.masks`)."""
        if self.kem != "x25519":
            raise KeyWrapError(f"a {self.kem} key is not a plain X25519 key")
        return x25519.X25519PrivateKey.from_private_bytes(self.secret)

    def public_bytes(self) -> bytes:
        """The public key as registered: ML-KEM-768 public key (1184 bytes) then X25519 (32)."""
        x = x25519.X25519PrivateKey.from_private_bytes(self.secret[-_X25519:]).public_key().public_bytes_raw()
        if self.kem == "x25519":
            return x
        seed = self.secret[:_MLKEM768_SEED]
        return mlkem.MLKEM768PrivateKey.from_seed_bytes(seed).public_key().public_bytes_raw() + x

    def unwrap(self, wrapped: bytes, info: bytes) -> bytes:
        try:
            return suite(self.kem).decrypt(wrapped, self._private(), info)
        except (InvalidTag, ValueError) as exc:
            raise KeyWrapError("the wrapped key does not open with this participant's key") from exc

    def __repr__(self) -> str:  # never the secret, in a log or a traceback
        return f"ParticipantKey(kem={self.kem!r}, fingerprint={fingerprint(self.public_bytes()).hex()[:16]})"


def wrap(kem: str, data_key: bytes, public: bytes, info: bytes) -> bytes:
    """`data_key` encrypted to the holder of `public` (HPKE base mode), bound to `info`."""
    return suite(kem).encrypt(data_key, _public(kem, public), info)


def _public(kem: str, public: bytes) -> x25519.X25519PublicKey | hpke.MLKEM768X25519PublicKey:
    expected = _X25519 if kem == "x25519" else _MLKEM768_PUBLIC + _X25519
    if len(public) != expected:
        raise KeystoreError(f"a {kem} public key has {expected} bytes, not {len(public)}")
    x = x25519.X25519PublicKey.from_public_bytes(public[-_X25519:])
    if kem == "x25519":
        return x
    return hpke.MLKEM768X25519PublicKey(mlkem.MLKEM768PublicKey.from_public_bytes(public[:_MLKEM768_PUBLIC]), x)


def fingerprint(public: bytes) -> bytes:
    """What the chain records of a public key (`registerKey`): its SHA-256."""
    return hashlib.sha256(public).digest()


# ---------------------------------------------------------------------------- keystore file


def save_key(path: Path, key: ParticipantKey, password: str, scrypt_n: int = SCRYPT_N) -> None:
    """Writes `key` to `path` (mode 0600), encrypted under `password`; never overwrites."""
    document = {
        "format": KEYSTORE_FORMAT,
        "kem": key.kem,
        "public": key.public_bytes().hex(),
        **lock(key.secret, password, key.kem.encode(), scrypt_n),
    }
    write_new(path, json.dumps(document).encode())


def lock(secret: bytes, password: str, aad: bytes, scrypt_n: int = SCRYPT_N) -> dict[str, Any]:
    """`secret` encrypted under `password` (scrypt, then AES-256-GCM bound to `aad`), as the
    keystore fields `scrypt`, `nonce` and `ciphertext`."""
    salt, nonce = os.urandom(16), os.urandom(12)
    sealed = AESGCM(_kdf(password, salt, scrypt_n)).encrypt(nonce, secret, aad)
    return {
        "scrypt": {"salt": salt.hex(), "n": scrypt_n, "r": 8, "p": 1},
        "nonce": nonce.hex(),
        "ciphertext": sealed.hex(),
    }


def unlock(document: dict[str, Any], password: str, aad: bytes) -> bytes:
    """What `lock` locked (raises `InvalidTag` for a wrong password, `KeyError`/`ValueError` for
    a damaged document)."""
    scrypt = document["scrypt"]
    key = _kdf(password, bytes.fromhex(scrypt["salt"]), int(scrypt["n"]))
    return AESGCM(key).decrypt(bytes.fromhex(document["nonce"]), bytes.fromhex(document["ciphertext"]), aad)


def write_new(path: Path, data: bytes) -> None:
    """Writes a secret file (mode 0600); refuses to overwrite one."""
    if path.exists():
        raise KeystoreError(f"{path} exists already; refusing to overwrite a key")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def load_key(path: Path, password: str) -> ParticipantKey:
    """Unlocks the HPKE keystore at `path`."""
    with unlocking(path, "HPKE keystore"):
        document = json.loads(path.read_text())
        kem = document["kem"]
        secret = unlock(document, password, kem.encode())
    return ParticipantKey(kem, secret)


@contextmanager
def unlocking(path: Path, what: str) -> Iterator[None]:
    """Turns what reading and unlocking a keystore can raise into one `KeystoreError` line:
    missing, wrong password (or damaged), unreadable."""
    try:
        yield
    except FileNotFoundError as exc:
        raise KeystoreError(f"{what} {path} not found") from exc
    except InvalidTag as exc:
        raise KeystoreError(f"cannot unlock {path}: wrong password or damaged keystore") from exc
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise KeystoreError(f"{what} {path} is unreadable") from exc


def keystore_public(path: Path) -> tuple[str, bytes]:
    """The KEM and public key a keystore holds, read without unlocking it."""
    try:
        document = json.loads(path.read_text())
        return document["kem"], bytes.fromhex(document["public"])
    except (OSError, ValueError, KeyError) as exc:
        raise KeystoreError(f"HPKE keystore {path} is unreadable") from exc


def _kdf(password: str, salt: bytes, n: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=8, p=1).derive(password.encode())
