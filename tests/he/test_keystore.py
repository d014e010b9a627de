"""The supervisor's keystore: one password, every participant's secret context, encrypted at rest."""

from __future__ import annotations

from pathlib import Path

import pytest

from tclearn.errors import KeystoreError
from tclearn.he.keystore import SupervisorKeystore

ADDRESS = "0x" + "ab" * 20


def test_contexts_survive_a_restart_and_need_the_password(tmp_path: Path, keys) -> None:
    secret, _ = keys[0]
    keystore = SupervisorKeystore.create(tmp_path / "sup", "pw", scrypt_n=2**10)
    keystore.add(ADDRESS, secret)
    reopened = SupervisorKeystore.open(tmp_path / "sup", "pw")
    assert reopened.mark_key == keystore.mark_key
    loaded = reopened.context(ADDRESS)
    assert loaded.secret and loaded.fingerprint == secret.fingerprint
    with pytest.raises(KeystoreError, match="wrong password"):
        SupervisorKeystore.open(tmp_path / "sup", "not the password")
    with pytest.raises(KeystoreError, match="no context"):
        reopened.context("0x" + "cd" * 20)
    stored = b"".join(p.read_bytes() for p in (tmp_path / "sup").iterdir())
    assert secret.secret_bytes()[1000:1032] not in stored, "a secret context lies in clear"
    assert all(p.stat().st_mode & 0o077 == 0 for p in (tmp_path / "sup").iterdir())


def test_a_damaged_context_file_is_refused(tmp_path: Path, keys) -> None:
    secret, _ = keys[0]
    keystore = SupervisorKeystore.create(tmp_path / "sup", "pw", scrypt_n=2**10)
    keystore.add(ADDRESS, secret)
    target = next((tmp_path / "sup").glob("*.ckks"))
    data = bytearray(target.read_bytes())
    data[100] ^= 1
    target.write_bytes(bytes(data))
    with pytest.raises(KeystoreError, match="missing or damaged"):
        SupervisorKeystore.open(tmp_path / "sup", "pw").context(ADDRESS)


def test_a_keystore_is_never_overwritten(tmp_path: Path) -> None:
    SupervisorKeystore.create(tmp_path / "sup", "pw", scrypt_n=2**10)
    with pytest.raises(KeystoreError, match="refusing to overwrite"):
        SupervisorKeystore.create(tmp_path / "sup", "pw", scrypt_n=2**10)
