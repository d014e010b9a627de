"""IPFS CIDv0 of a byte string, computed as an IPFS node's default `add` computes it.

Default `add`: 256 KiB chunks, each a dag-pb node holding a UnixFS `File`; a balanced DAG of
at most 174 links per node above them; the CID is base58btc of the SHA-256 multihash of the
root block. Computing it here lets the embedded store and a real IPFS node agree on the CID of
the same bytes, and lets the ledger keep just the 32-byte digest (`bytes32`) on chain.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

CHUNK_SIZE = 256 * 1024
MAX_LINKS = 174
_SHA256_PREFIX = b"\x12\x20"  # multihash: sha2-256, 32 bytes
_UNIXFS_FILE = 2
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


@dataclass(frozen=True)
class _Node:
    multihash: bytes
    file_size: int
    tree_size: int  # the block's own size plus everything below it (the link's Tsize)


def cid_v0(data: bytes) -> str:
    """The CIDv0 (`Qm…`) an IPFS node's default `add` gives `data`."""
    return multihash_to_cid(_root(data).multihash)


def cid_digest(cid: str) -> bytes:
    """The 32-byte SHA-256 digest inside a CIDv0, as the ledger stores it."""
    multihash = _b58decode(cid)
    if len(multihash) != 34 or not multihash.startswith(_SHA256_PREFIX):
        raise ValueError(f"{cid!r} is not a CIDv0 (base58 SHA-256 multihash)")
    return multihash[2:]


def digest_to_cid(digest: bytes) -> str:
    """The CIDv0 whose digest the ledger stored."""
    if len(digest) != 32:
        raise ValueError("a CIDv0 digest is 32 bytes")
    return multihash_to_cid(_SHA256_PREFIX + digest)


def multihash_to_cid(multihash: bytes) -> str:
    return _b58encode(multihash)


def _root(data: bytes) -> _Node:
    leaves = [_leaf(data[i : i + CHUNK_SIZE]) for i in range(0, len(data), CHUNK_SIZE)] or [_leaf(b"")]
    level = leaves
    while len(level) > 1:
        level = [_parent(level[i : i + MAX_LINKS]) for i in range(0, len(level), MAX_LINKS)]
    return level[0]


def _leaf(chunk: bytes) -> _Node:
    unixfs = _field_varint(1, _UNIXFS_FILE)
    if chunk:
        unixfs += _field_bytes(2, chunk)
    unixfs += _field_varint(3, len(chunk))
    block = _field_bytes(1, unixfs)
    return _Node(_SHA256_PREFIX + hashlib.sha256(block).digest(), len(chunk), len(block))


def _parent(children: list[_Node]) -> _Node:
    file_size = sum(child.file_size for child in children)
    unixfs = _field_varint(1, _UNIXFS_FILE) + _field_varint(3, file_size)
    unixfs += b"".join(_field_varint(4, child.file_size) for child in children)
    links = b"".join(
        _field_bytes(2, _field_bytes(1, child.multihash) + _field_bytes(2, b"") + _field_varint(3, child.tree_size))
        for child in children
    )
    block = links + _field_bytes(1, unixfs)
    tree_size = len(block) + sum(child.tree_size for child in children)
    return _Node(_SHA256_PREFIX + hashlib.sha256(block).digest(), file_size, tree_size)


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field_varint(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def _field_bytes(number: int, value: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(value)) + value


def _b58encode(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    out = ""
    while number:
        number, rest = divmod(number, 58)
        out = _B58[rest] + out
    pad = len(data) - len(data.lstrip(b"\0"))
    return "1" * pad + out


def _b58decode(text: str) -> bytes:
    number = 0
    for char in text:
        index = _B58.find(char)
        if index < 0:
            raise ValueError(f"{text!r} is not base58")
        number = number * 58 + index
    body = number.to_bytes((number.bit_length() + 7) // 8, "big")
    pad = len(text) - len(text.lstrip("1"))
    return b"\0" * pad + body
