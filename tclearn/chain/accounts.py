"""Participants' keys: encrypted keystore files (eth-account), never a plaintext key on disk.

The keystore password comes from the environment (`TCLEARN_PASSWORD`) or from a password file
readable only by its owner, the geth `--password` convention; the key itself stays scrypt-
encrypted at rest and is only ever held in memory.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from tclearn.errors import KeystoreError

PASSWORD_ENV = "TCLEARN_PASSWORD"
# scrypt work factor: ~0.2 s per unlock on these machines; tests may lower it.
DEFAULT_SCRYPT_N = 2**16


def create_keystore(path: Path, password: str, scrypt_n: int = DEFAULT_SCRYPT_N) -> str:
    """Makes a new key, writes it encrypted to `path` (mode 0600) and returns its address."""
    if path.exists():
        raise KeystoreError(f"{path} exists already; refusing to overwrite a key")
    account = Account.create()
    keystore = Account.encrypt(account.key, password, kdf="scrypt", iterations=scrypt_n)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_private(path, json.dumps(keystore))
    return account.address


def load_account(path: Path, password: str) -> LocalAccount:
    """Unlocks the keystore at `path`."""
    try:
        keystore = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise KeystoreError(f"keystore {path} not found") from exc
    except (OSError, json.JSONDecodeError) as exc:
        raise KeystoreError(f"keystore {path} is unreadable or not JSON") from exc
    try:
        key = Account.decrypt(keystore, password)
    except ValueError as exc:
        raise KeystoreError(f"cannot unlock {path}: wrong password or damaged keystore") from exc
    return Account.from_key(key)


def keystore_address(path: Path) -> str:
    """The address a keystore holds, read without unlocking it."""
    try:
        return to_checksum_address("0x" + json.loads(path.read_text())["address"])
    except (OSError, json.JSONDecodeError, KeyError) as exc:
        raise KeystoreError(f"keystore {path} is unreadable") from exc


def resolve_password(password_file: Path | None) -> str:
    """The keystore password: `TCLEARN_PASSWORD` if set, else the password file."""
    from_env = os.environ.get(PASSWORD_ENV)
    if from_env:
        return from_env
    if password_file is None:
        raise KeystoreError(f"no keystore password: set {PASSWORD_ENV} or configure a password file")
    try:
        mode = password_file.stat().st_mode
    except FileNotFoundError as exc:
        raise KeystoreError(f"password file {password_file} not found; set {PASSWORD_ENV} instead") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeystoreError(f"password file {password_file} is readable by others: chmod 600 it")
    return password_file.read_text().strip()


def new_password_file(path: Path) -> None:
    """Writes a fresh random password to `path`, readable only by its owner."""
    _write_private(path, secrets.token_urlsafe(32) + "\n")


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
