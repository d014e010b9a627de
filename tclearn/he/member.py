"""A member's step in mode C: train the head on its own data without ever seeing it in clear.

It waits for its copy of the head (issued by the supervisor under its own context), computes its
local epochs as one affine map from its data (`tclearn.he.training`), applies it to the
encrypted copy, weighs the result by its samples, adds its secure-aggregation mask (agreed with
every other member issued a copy of the same head, `tclearn.he.masks`), and registers the
container's SHA-256 and CID as its step. Its data, its update and the model stay hidden: the
update leaves it encrypted under a key only the supervisor holds, and masked.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from cryptography.hazmat.primitives.asymmetric import x25519
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from tclearn.engine.steps import Pending, Submission
from tclearn.he import head, masks, training
from tclearn.he.ckks import HEError
from tclearn.he.records import WEIGHT_UNIT, Records, round_binding
from tclearn.model.weights import sha256
from tclearn.store.cid import cid_digest


@dataclass
class EncryptedMember:
    records: Records
    account: LocalAccount
    mask_key: x25519.X25519PrivateKey
    features: np.ndarray  # its data through the coalition's frozen extractor
    labels: np.ndarray
    recipe: training.Recipe

    def local_map(self) -> training.LocalMap:
        return training.local_map(self.features, self.labels, self.records.layout.classes, self.recipe)

    def submit(self, parent: int, local: training.LocalMap | None = None) -> Submission:
        """Trains on block `parent`'s encrypted copy and registers the step (raises `Pending`
        until the supervisor has issued the copy). `local`: the map to apply (an attacker's)."""
        records, me = self.records, to_checksum_address(self.account.address)
        copy = records.copy_of(parent, me)
        if copy is None:
            raise Pending(f"a copy of block {parent}")
        layout, context = records.layout, records.public_context(me)
        encrypted = head.load_copy(copy, context, layout)
        local = local or self.local_map()
        data = training.encrypted_update(
            encrypted.vectors, context, layout, local, local.samples / WEIGHT_UNIT, self.mask(parent), parent=parent
        )
        cid = records.store.put(data)
        digest = sha256(data)
        # Full-batch gradient descent: the batch is the member's whole shard, which the ledger
        # holds to the coalition's minimum batch size.
        update_id = records.ledger.register_update(
            self.account, parent, digest, cid_digest(cid), local.samples, local.samples
        )
        return Submission(update_id, parent, cid, digest, local.samples)

    def mask(self, parent: int) -> np.ndarray:
        """Its mask for the round on `parent`: paired with every other member issued a copy."""
        ledger, me = self.records.ledger, to_checksum_address(self.account.address)
        members = {to_checksum_address(a) for a in ledger.role_holders(("member",))}
        roster = {c.participant for c in ledger.copies_issued(blockId=parent)} & members
        keys = self.records.mask_keys()
        missing = sorted(roster - set(keys) - {me})
        if missing:
            raise HEError("no-mask-key", f"members {missing} registered no mask key")
        peers = {a: keys[a] for a in roster if a != me}
        return masks.mask(me, self.mask_key, peers, round_binding(ledger, parent), self.records.layout.shape)
