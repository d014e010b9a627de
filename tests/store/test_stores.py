"""Both content stores: same CIDs as an IPFS node's `add`, verified reads, clear failures.

The IPFS half runs against a real js-ipfs node that this test session starts and stops.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tclearn import services
from tclearn.services import free_port
from tclearn.store import open_store
from tclearn.store.base import ContentStore, StoreError, fetch_verified
from tclearn.store.cid import cid_v0
from tclearn.store.ipfs import IpfsStore
from tclearn.store.local import LocalStore

PAYLOADS = [b"", b"hello world\n", bytes(range(256)) * 1025, bytes(range(256)) * (3 * 1024 + 7)]


@pytest.fixture(params=["local", pytest.param("ipfs", marks=pytest.mark.ipfs)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ContentStore:
    if request.param == "local":
        return open_store("local", tmp_path)
    return open_store(request.getfixturevalue("ipfs_url"))


@pytest.mark.parametrize("data", PAYLOADS, ids=["empty", "hello", "one-chunk-plus", "three-chunks-plus"])
def test_put_gives_the_ipfs_cid_and_get_returns_the_bytes(store: ContentStore, data: bytes) -> None:
    cid = store.put(data)
    assert cid == cid_v0(data)
    assert store.get(cid) == data
    assert fetch_verified(store, cid, hashlib.sha256(data).digest()) == data


def test_bytes_that_do_not_match_the_chain_are_refused(store: ContentStore) -> None:
    cid = store.put(b"model weights")
    with pytest.raises(StoreError, match="SHA-256 committed on chain"):
        fetch_verified(store, cid, hashlib.sha256(b"other weights").digest())


def test_local_store_detects_tampering(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    cid = store.put(b"weights")
    (tmp_path / cid[-2:] / cid).write_bytes(b"tampered")
    with pytest.raises(StoreError, match="do not match"):
        store.get(cid)
    with pytest.raises(StoreError, match="not in the store"):
        store.get(cid_v0(b"absent"))


@pytest.mark.ipfs
def test_content_the_ipfs_node_lacks_is_a_store_error(ipfs_url: str) -> None:
    with pytest.raises(StoreError, match="not available"):
        IpfsStore(ipfs_url, fetch_timeout_s=1).get(cid_v0(b"never added"))


def test_unreachable_ipfs_node_is_a_store_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tclearn.store.ipfs.BACKOFF_S", 0.01)
    with pytest.raises(StoreError, match="unreachable"):
        IpfsStore(f"http://127.0.0.1:{free_port()}").put(b"x")


def test_unknown_store_url() -> None:
    with pytest.raises(StoreError, match="unknown store URL"):
        open_store("s3://bucket")


@pytest.mark.ipfs
@pytest.mark.slow
def test_ipfs_content_survives_a_node_restart(tmp_path: Path) -> None:
    repo = tmp_path / "ipfs"
    node = services.ipfs_up(repo)
    try:
        cid = IpfsStore(node.url).put(b"persisted across restarts")
    finally:
        assert services.ipfs_down(repo)
    stopped = services.ipfs_status(repo)
    assert stopped is not None and not stopped.running
    again = services.ipfs_up(repo)
    try:
        assert again.url == node.url and again.pid != node.pid, "a restart keeps the URL nodes were given"
        assert IpfsStore(again.url).get(cid) == b"persisted across restarts"
    finally:
        services.ipfs_down(repo)
