"""One content-store interface, two backends chosen by URL.

- ``local`` (the default) or ``local:<dir>``: the embedded store on local disk, no server.
- ``http://host:port``: a real IPFS node's HTTP RPC API (js-ipfs here, kubo at users' sites).

Both give the CIDv0 an IPFS node's default `add` gives, and both check on read that the bytes
hash back to the CID; `fetch_verified` also checks the SHA-256 the chain committed to.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Protocol

from tclearn.errors import TCLearnError


class StoreError(TCLearnError):
    """Content missing or unreachable, or not what its address or the chain promises."""


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
        raise StoreError(f"the bytes stored under {cid} do not match the SHA-256 committed on chain")
    return data


def open_store(url: str, base_dir: Path | None = None) -> ContentStore:
    """The store named by `url`; a relative local directory is taken from `base_dir`."""
    from tclearn.store.ipfs import IpfsStore
    from tclearn.store.local import LocalStore

    if url == "local" or url.startswith("local:"):
        target = Path(url.partition(":")[2] or "store")
        if not target.is_absolute():
            target = (base_dir or Path.cwd()) / target
        return LocalStore(target)
    if url.startswith(("http://", "https://")):
        return IpfsStore(url)
    raise StoreError(f"unknown store URL {url!r}: use 'local', 'local:<dir>' or an IPFS RPC URL (http://host:port)")
