"""What every mode-C node reads from the chain and the store, checked: a participant's public
context, the copy of a block issued to it, the members' mask keys, the head's bytes, the
documents that carry a decryption's request and answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address

from tclearn.chain.ledger import DecryptionRequest, Ledger
from tclearn.he import ckks
from tclearn.he.head import HeadLayout
from tclearn.model.weights import TensorSpec, load_weights, serialize_state
from tclearn.privacy.keys import fingerprint
from tclearn.store.base import ContentStore, StoreError, fetch_verified, get_json, put_json
from tclearn.store.cid import digest_to_cid

KEM = "x25519"  # mode C's HPKE keys: they seal models and answers, and a member's agrees its masks
MASK_PURPOSE = "tclearn.mask"  # `registerKey` purpose of a member's X25519 mask key
AGGREGATE = "tclearn.aggregate"  # a general asks for the candidate of a set of updates
VOTE = "tclearn.vote"  # a validator asks for its samples' labels under a model
PURPOSES = {keccak(text=p): p for p in (AGGREGATE, VOTE)}
WEIGHT_UNIT = 1024  # an update is scaled by its samples / WEIGHT_UNIT before it is masked


@dataclass
class Records:
    """One participant's view of mode C's records; what it fetched and checked is kept."""

    ledger: Ledger
    store: ContentStore
    layout: HeadLayout
    _contexts: dict[str, ckks.Context] = field(default_factory=dict, repr=False)

    def public_context(self, participant: str) -> ckks.Context:
        """`participant`'s public context as issued, checked against its fingerprint on chain."""
        address = to_checksum_address(participant)
        if address not in self._contexts:
            issued = [c for c in self.ledger.contexts_issued() if c.participant == address]
            if not issued:
                raise ckks.HEError("no-context", f"no CKKS context was issued to {address}")
            data = self.store.get(digest_to_cid(issued[-1].cid_digest))
            self._contexts[address] = ckks.load(data, issued[-1].fingerprint)
        return self._contexts[address]

    def fingerprint_of(self, participant: str) -> bytes | None:
        """The fingerprint of the context last issued to `participant`, from the chain's events
        (read incrementally, where `contextOf` would be one call per question)."""
        address = to_checksum_address(participant)
        issued = [c.fingerprint for c in self.ledger.contexts_issued() if c.participant == address]
        return issued[-1] if issued else None

    def copy_of(self, block: int, participant: str) -> bytes | None:
        """The copy of `block`'s model issued to `participant`, checked against its hash on
        chain (None: not issued yet)."""
        issued = self.ledger.copies_issued(blockId=block, participant=to_checksum_address(participant))
        if not issued:
            return None
        return fetch_verified(self.store, digest_to_cid(issued[-1].cid_digest), issued[-1].copy_hash)

    def mask_keys(self) -> dict[str, bytes]:
        """Each member's latest X25519 mask key, fetched and checked against its fingerprint."""
        keys = {}
        for registration in self.ledger.key_registrations(MASK_PURPOSE):
            try:
                public = self.store.get(registration.uri)
            except StoreError:
                continue
            if fingerprint(public) == registration.fingerprint and len(public) == 32:
                keys[registration.account] = public
        return keys

    def put_json(self, document: dict[str, Any]) -> bytes:
        return put_json(self.store, document)

    def get_json(self, digest: bytes) -> dict[str, Any]:
        return get_json(self.store, digest)

    def requests(self, purpose: str, requester: str | None = None, block: int | None = None) -> list[DecryptionRequest]:
        wanted = keccak(text=purpose)
        return [
            r
            for r in self.ledger.decryption_requests()
            if r.purpose == wanted
            and (requester is None or r.requester == to_checksum_address(requester))
            and (block is None or r.block == block)
        ]


def publish_mask_key(ledger: Ledger, store: ContentStore, account: LocalAccount, public: bytes) -> None:
    """Stores a member's X25519 mask key and registers its fingerprint on chain."""
    ledger.register_key(account, MASK_PURPOSE, fingerprint(public), store.put(public))


def round_binding(ledger: Ledger, parent: int) -> bytes:
    """What a round's masks are bound to: the coalition and the block the updates start from."""
    return f"{ledger.address}|{parent}".encode()


def dump_head(weights: np.ndarray) -> bytes:
    return serialize_state({"head": torch.from_numpy(np.ascontiguousarray(weights, dtype=np.float64))})


def load_head(data: bytes, layout: HeadLayout) -> np.ndarray:
    """A head's weights from untrusted bytes (raises `ModelRejected`)."""
    tensors = load_weights(data, {"head": TensorSpec(layout.shape, torch.float64)})
    return tensors["head"].numpy()
