"""Content stores behind one interface (`base.ContentStore`), chosen by URL.

- ``local`` (the default) or ``local:<dir>``: the embedded store on local disk, no server.
- ``http://host:port``: a real IPFS node's HTTP RPC API (js-ipfs here, kubo at users' sites).
"""

from __future__ import annotations

from pathlib import Path

from tclearn.store.base import ContentStore, StoreError
from tclearn.store.ipfs import IpfsStore
from tclearn.store.local import LocalStore


def open_store(url: str, base_dir: Path | None = None) -> ContentStore:
    """The store named by `url`; a relative local directory is taken from `base_dir`."""
    if url == "local" or url.startswith("local:"):
        target = Path(url.partition(":")[2] or "store")
        if not target.is_absolute():
            target = (base_dir or Path.cwd()) / target
        return LocalStore(target)
    if url.startswith(("http://", "https://")):
        return IpfsStore(url)
    raise StoreError(f"unknown store URL {url!r}: use 'local', 'local:<dir>' or an IPFS RPC URL (http://host:port)")
