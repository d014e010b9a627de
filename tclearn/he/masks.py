"""Secure aggregation's pairwise masks: the supervisor decrypts each member's update only masked,
and the masks cancel in the sum it was agreed to compute.

Each pair of members (i, j) of a round agrees on a seed by X25519 (each member's mask key is
registered on chain), expanded by HKDF-SHA256 bound to the coalition, the parent block and the
round's attempt (`tclearn.he.records.round_binding`), then by ChaCha20 into uniform values in
[−R, R). Member i adds the pair's values for each peer j after it (by address) and subtracts
them for each peer before it, so over all the round's members every pair's values cancel
(Bonawitz et al., CCS 2017, without their secret-shared seeds and double masks: a member
present in the sum gives the supervisor its pairs' values with the absent members instead,
`correction`, only once the ledger has closed the roster so that no absent member can add an
update they would expose; `tclearn.he.member`).

R is chosen so that a member's mask, a sum over up to all its peers, stays below 2^17: CKKS with a
scale of 2^40 and 60 bits left after two rescalings carries values below about 2^19. An update
(scaled to a few units) then hides in masks some 10^4 times wider: a statistical, not a perfect,
hiding, since real-valued masks cannot be uniform over an unbounded range. Written down in
docs/THREAT_MODEL.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import x25519
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

BOUND = 2.0**17


def mask_range(peers: int) -> float:
    """R for a round of `peers` + 1 members: every member's mask stays below `BOUND`."""
    return BOUND / max(1, peers)


def pair_values(
    secret: x25519.X25519PrivateKey, peer: bytes, context: bytes, shape: tuple[int, ...], bound: float
) -> np.ndarray:
    """The values a pair of members agree on for one round (`context`), in [−bound, bound)."""
    shared = secret.exchange(x25519.X25519PublicKey.from_public_bytes(peer))
    seed = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"tclearn.mask|" + context).derive(shared)
    count = int(np.prod(shape))
    stream = Cipher(algorithms.ChaCha20(seed, b"\x00" * 16), mode=None).encryptor().update(b"\x00" * (8 * count))
    uniform = np.frombuffer(stream, dtype="<u8").astype(np.float64) / 2.0**64
    return ((uniform * 2.0 - 1.0) * bound).reshape(shape)


def mask(
    me: str,
    secret: x25519.X25519PrivateKey,
    peers: Mapping[str, bytes],
    context: bytes,
    shape: tuple[int, ...],
) -> np.ndarray:
    """Member `me`'s mask for a round whose other members and their mask keys are `peers`."""
    bound = mask_range(len(peers))
    total = np.zeros(shape)
    for address, public in peers.items():
        values = pair_values(secret, public, context, shape, bound)
        total += values if me.lower() < address.lower() else -values
    return total


def correction(
    me: str,
    secret: x25519.X25519PrivateKey,
    peers: Mapping[str, bytes],
    absent: Sequence[str],
    context: bytes,
    shape: tuple[int, ...],
) -> np.ndarray:
    """The part of `me`'s mask that pairs it with members whose updates are not in the sum: the
    supervisor subtracts it, so the masks of the members summed cancel among themselves."""
    bound = mask_range(len(peers))
    total = np.zeros(shape)
    for address in absent:
        values = pair_values(secret, peers[address], context, shape, bound)
        total += values if me.lower() < address.lower() else -values
    return total
