"""The content-store interface every backend implements (`tclearn.store.open_store` picks one).

Both backends give the CIDv0 an IPFS node's default `add` gives, and both check on read that the bytes
hash back to the CID; `fetch_verified` also checks the SHA-256 the chain committed to.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Protocol

from tclearn.errors import TCLearnError
from tclearn.store.cid import cid_digest, digest_to_cid


class StoreError(TCLearnError):
    """Content missing or unreachable, or not what its address or the chain promises.

    `reason` says which, for an auditor to report: `missing`, `altered` (the bytes do not hash
    back to their CID; `actual` is the CID they do hash to), `hash` (not the SHA-256 the chain
    committed to) or `unreachable` (the default)."""

    def __init__(self, message: str, reason: str = "unreachable", actual: str | None = None):
        super().__init__(message)
        self.reason, self.actual = reason, actual


class ContentStore(Protocol):
    url: str

    def put(self, data: bytes) -> str:
        """Stores `data` (pinned) and returns its CIDv0."""
        ...

    def get(self, cid: str) -> bytes:
        """The bytes behind `cid`, checked against it."""
        ...


def fetch_verified(store: ContentStore, cid: str, sha256: bytes) -> bytes:
    """The bytes behind `cid`, refused unless their SHA-256 is the one committed on chain."""
    data = store.get(cid)
    if hashlib.sha256(data).digest() != sha256:
        raise StoreError(f"the bytes stored under {cid} do not match the SHA-256 committed on chain", "hash")
    return data


def put_json(store: ContentStore, document: dict[str, Any]) -> bytes:
    """Stores canonical JSON; returns its CIDv0 digest (what the chain records of it)."""
    return cid_digest(store.put(json.dumps(document, sort_keys=True, separators=(",", ":")).encode()))


def get_json(store: ContentStore, digest: bytes) -> dict[str, Any]:
    """The JSON document stored under a CIDv0 digest."""
    return dict(json.loads(store.get(digest_to_cid(digest))))
