"""The supervisor's keystore: every participant's CKKS secret context, and the mark key.

    DIR/master.json        a random 32-byte master key, locked under the keystore password
                           (scrypt, AES-256-GCM: `tclearn.privacy.keys.lock`)
    DIR/contexts.json      participant → fingerprint of its public context (nothing secret)
    DIR/<address>.ckks     that participant's secret context, AES-256-GCM under the master key,
                           bound to the address and the fingerprint

One password unlocks the lot, and scrypt runs once, not once per participant. Files are written
0600 and never overwritten; the index is replaced atomically after a context's file is in place,
so a crash leaves at worst a context file the index does not name yet (generated again).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eth_utils import to_checksum_address

from tclearn.errors import KeystoreError
from tclearn.fileio import write_atomic
from tclearn.he import ckks
from tclearn.privacy.keys import SCRYPT_N, lock, unlock, unlocking, write_new

FORMAT = "tclearn-ckks-keystore/1"


@dataclass
class SupervisorKeystore:
    path: Path
    master: bytes = field(repr=False)
    fingerprints: dict[str, bytes] = field(default_factory=dict)
    _contexts: dict[str, ckks.Context] = field(default_factory=dict, repr=False)

    @classmethod
    def create(cls, path: Path, password: str, scrypt_n: int = SCRYPT_N) -> SupervisorKeystore:
        master = os.urandom(32)
        document = {"format": FORMAT, **lock(master, password, FORMAT.encode(), scrypt_n)}
        write_new(path / "master.json", json.dumps(document).encode())
        keystore = cls(path, master)
        keystore._save_index()
        return keystore

    @classmethod
    def open(cls, path: Path, password: str) -> SupervisorKeystore:
        with unlocking(path, "supervisor keystore"):
            master = unlock(json.loads((path / "master.json").read_text()), password, FORMAT.encode())
            index = json.loads((path / "contexts.json").read_text())
        return cls(path, master, {a: bytes.fromhex(f) for a, f in index.items()})

    @property
    def mark_key(self) -> bytes:
        """The key copies' marks are drawn from (`tclearn.he.head.draw_mark`)."""
        return hmac.new(self.master, b"tclearn.copy-mark", hashlib.sha256).digest()

    def add(self, participant: str, context: ckks.Context) -> None:
        """Keeps `participant`'s new secret context."""
        address = to_checksum_address(participant)
        nonce = os.urandom(12)
        sealed = AESGCM(self.master).encrypt(nonce, context.secret_bytes(), self._aad(address, context.fingerprint))
        target = self.path / f"{address}.ckks"
        if target.exists():
            target.unlink()  # a context generated before a crash, never indexed: never issued
        write_new(target, nonce + sealed)
        self.fingerprints[address] = context.fingerprint
        self._contexts[address] = context
        self._save_index()

    def context(self, participant: str) -> ckks.Context:
        """`participant`'s secret context (raises `KeystoreError` if the supervisor has none)."""
        address = to_checksum_address(participant)
        if address not in self._contexts:
            if address not in self.fingerprints:
                raise KeystoreError(f"the supervisor holds no context for {address}")
            fingerprint = self.fingerprints[address]
            try:
                blob = (self.path / f"{address}.ckks").read_bytes()
                data = AESGCM(self.master).decrypt(blob[:12], blob[12:], self._aad(address, fingerprint))
            except (OSError, InvalidTag) as exc:
                raise KeystoreError(f"the supervisor's context for {address} is missing or damaged") from exc
            self._contexts[address] = ckks.load_secret(data, fingerprint)
        return self._contexts[address]

    def _aad(self, address: str, fingerprint: bytes) -> bytes:
        return f"{FORMAT}|{address}|".encode() + fingerprint

    def _save_index(self) -> None:
        index = {a: f.hex() for a, f in sorted(self.fingerprints.items())}
        write_atomic(self.path / "contexts.json", json.dumps(index, indent=1), mode=0o600)
