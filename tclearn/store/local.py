"""The embedded content store: files on local disk addressed by the CID an IPFS node would give.

No server to run; `put` returns the same CIDv0 as `ipfs add`, and `get` refuses bytes that do
not hash back to the CID asked for, so a damaged or swapped file is caught on read.
"""

from __future__ import annotations

from pathlib import Path

from tclearn.fileio import write_atomic
from tclearn.store.base import StoreError
from tclearn.store.cid import cid_digest, cid_v0


class LocalStore:
    """Content-addressed blobs under one directory, one file per CID."""

    def __init__(self, root: Path):
        self.root = root
        self.url = f"local:{root}"

    def put(self, data: bytes) -> str:
        cid = cid_v0(data)
        path = self._path(cid)
        if not path.exists():
            write_atomic(path, data)
        return cid

    def get(self, cid: str) -> bytes:
        try:
            data = self._path(cid).read_bytes()
        except FileNotFoundError as exc:
            raise StoreError(f"{cid} is not in the store at {self.root}", "missing") from exc
        if (actual := cid_v0(data)) != cid:
            raise StoreError(f"stored bytes of {cid} do not match their CID: the store is damaged", "altered", actual)
        return data

    def _path(self, cid: str) -> Path:
        cid_digest(cid)  # refuses anything but a CIDv0 before it becomes a path
        return self.root / cid[-2:] / cid
