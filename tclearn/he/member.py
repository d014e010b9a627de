"""A member's step in mode C: train the head on its own data without ever seeing it in clear.

It waits for its copy of the head (issued by the supervisor under its own context), computes its
local epochs as one affine map from its data (`tclearn.he.training`), applies it to the
encrypted copy, weighs the result by its samples, adds its secure-aggregation mask (agreed with
every other member issued a copy of the same head, `tclearn.he.masks`, and bound to the round's
attempt), and registers the container's SHA-256 and CID as its step in that attempt. Its data,
its update and the model stay hidden: the update leaves it encrypted under a key only the
supervisor holds, and masked.

When a member issued the head never registers (it died, or its update is unreadable), the masks
of the others do not cancel. Once the general has closed the attempt's roster on chain, so that
the absent member can never join it, each present member files its **correction** (`correct`):
the part of its mask it shares with the absent ones, encrypted for the supervisor, who subtracts
it from the sum. It reveals nothing of its update: the masks it shares with the other present
members still hide it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from cryptography.hazmat.primitives.asymmetric import x25519
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from tclearn.chain.ledger import RoundInfo
from tclearn.engine.steps import Outcome, Pending, Submission
from tclearn.he import head, masks, training
from tclearn.he.ckks import HEError
from tclearn.he.records import CORRECTION, WEIGHT_UNIT, Records, round_binding, survivors_needed
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
        """Trains on block `parent`'s encrypted copy and registers the step in the current
        attempt (raises `Pending` until the supervisor has issued the copy; `HEError` if it
        registered one in this attempt already: a second update under the same masks would
        show the supervisor their difference). `local`: the map to apply (an attacker's)."""
        records, me = self.records, self.address
        attempt = records.ledger.current_round()
        name = f"round {attempt.number}.{attempt.attempt}"
        if any(u.member == me for u in records.ledger.masked_updates(attempt)):
            raise HEError("already-submitted", f"this member's update of {name} is on chain")
        if records.ledger.roster_closed(attempt):
            raise HEError("roster-closed", f"the general closed {name}'s roster: submit in the next round")
        copy = records.copy_of(parent, me)
        if copy is None:
            raise Pending(f"a copy of block {parent}")
        layout, context = records.layout, records.public_context(me)
        encrypted = head.load_copy(copy, context, layout)
        local = local or self.local_map()
        mask = self.mask(parent, attempt)
        data = training.encrypted_update(
            encrypted.vectors, context, layout, local, local.samples / WEIGHT_UNIT, mask, parent=parent
        )
        cid = records.store.put(data)
        digest = sha256(data)
        # Full-batch gradient descent: the batch is the member's whole shard, which the ledger
        # holds to the coalition's minimum batch size.
        update_id = records.ledger.register_masked_update(
            self.account, parent, attempt, digest, cid_digest(cid), local.samples, local.samples
        )
        return Submission(update_id, parent, cid, digest, local.samples)

    @property
    def address(self) -> str:
        return to_checksum_address(self.account.address)

    def peers(self, parent: int) -> dict[str, bytes]:
        """The mask keys of the other members of the round on `parent`."""
        roster = self.records.roster(parent)
        keys = self.records.mask_keys()
        missing = sorted(roster - set(keys) - {self.address})
        if missing:
            raise HEError("no-mask-key", f"members {missing} registered no mask key")
        return {a: keys[a] for a in roster if a != self.address}

    def mask(self, parent: int, attempt: RoundInfo) -> np.ndarray:
        """Its mask for `attempt` on `parent`: paired with every other member issued a copy."""
        binding = round_binding(self.records.ledger, parent, attempt)
        return masks.mask(self.address, self.mask_key, self.peers(parent), binding, self.records.layout.shape)

    def correct(self) -> Outcome | None:
        """Files its correction for the current attempt, once, when it is due: the roster is
        closed on chain, this member is present, some members are absent, and enough are present
        (`survivors_needed`) that revealing its masks with the absent ones exposes no update."""
        records, ledger = self.records, self.records.ledger
        closed = ledger.closed_attempt()
        if closed is None:
            return None
        attempt, parent = closed
        gathered = records.gathered(parent, attempt)
        if not gathered.absent or gathered.unreadable or self.address not in {u.member for u in gathered.updates}:
            return None
        if self.address in records.corrections(gathered):
            return None
        if not gathered.enough:
            roster = len(gathered.updates) + len(gathered.absent)
            return Outcome(
                "too-few-present", parent, f"{len(gathered.updates)} of {roster}, {survivors_needed(roster)} needed"
            )
        binding = round_binding(ledger, parent, attempt)
        values = masks.correction(
            self.address, self.mask_key, self.peers(parent), gathered.absent, binding, records.layout.shape
        )
        context = records.public_context(self.address)
        container = training.encrypted_correction(context, records.layout, values, parent=parent)
        document = records.put_json(
            {
                "parent": parent,
                "attempt": gathered.binding_fields,
                "absent": gathered.absent,
                "correction_cid": records.store.put(container),
                "correction_hash": sha256(container).hex(),
            }
        )
        request = ledger.request_decryption(self.account, CORRECTION, parent, document)
        return Outcome("correction-filed", parent, f"{request}:{','.join(gathered.absent)}")
