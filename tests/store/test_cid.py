"""CIDv0 as an IPFS node's default `add` computes it, and the embedded store's read checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from tclearn.store.cid import CHUNK_SIZE, cid_digest, cid_v0, digest_to_cid
from tclearn.store.local import LocalStore, StoreError


@pytest.mark.parametrize(
    ("data", "cid"),
    [
        (b"hello world\n", "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"),  # ipfs add, any node
        (b"", "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"),  # the empty file
        # checked against js-ipfs 0.66 `add`: exactly one chunk, one chunk and a bit, four chunks
        (bytes(range(256)) * 1024, "QmST7dgog87n3RYz743DBMy6Z38VVF1432NLrwvqA4NJsE"),
        (bytes(range(256)) * 1025, "QmNn3ui6HiYm1ZvE9Z6fJy3Hpi1A2FhACLFaBCfMyhiJ98"),
        (bytes(range(256)) * (3 * 1024 + 7), "Qme2gnLesahNEXXtsQDWRSWSVHk7Z9Hg28z5d2Ht5FA11M"),
    ],
)
def test_known_cids(data: bytes, cid: str) -> None:
    assert cid_v0(data) == cid


def test_digest_round_trip_and_multi_chunk_files() -> None:
    big = bytes(range(256)) * (3 * CHUNK_SIZE // 256 + 7)
    cid = cid_v0(big)
    assert cid.startswith("Qm") and len(cid) == 46
    assert digest_to_cid(cid_digest(cid)) == cid
    assert cid_v0(big[:-1]) != cid
    with pytest.raises(ValueError):
        cid_digest("bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi")


def test_local_store_refuses_damaged_content(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    cid = store.put(b"weights")
    assert store.get(cid) == b"weights"
    (tmp_path / cid[-2:] / cid).write_bytes(b"tampered")
    with pytest.raises(StoreError, match="do not match"):
        store.get(cid)
    with pytest.raises(StoreError, match="not in the store"):
        store.get(cid_v0(b"absent"))


def test_a_two_level_dag_matches_ipfs() -> None:
    """50 MiB = 200 chunks: above 174 links the balanced DAG grows a level (checked on js-ipfs)."""
    import hashlib

    size = 50 * 1024 * 1024
    stream = b"".join(hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(size // 32))
    assert cid_v0(stream) == "QmSnY2Y4ahknx8rpFimKRo5fTAUjhXoFHn3gwhTGpz1qDn"
