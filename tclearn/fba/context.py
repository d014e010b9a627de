"""What every node of a coalition works with: its ledger, its content store, its model family.

It also answers the questions all of them ask the ledger and the store together: the weights of
a block or of an update, fetched, checked against the hash on chain, and validated.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from tclearn.chain.ledger import BlockRecord, Ledger, UpdateRecord
from tclearn.model.family import ModelFamily, State
from tclearn.privacy.envelope import SealContext
from tclearn.privacy.vault import Vault, model_context, update_context
from tclearn.store.base import ContentStore, fetch_verified, get_json, put_json
from tclearn.store.cid import digest_to_cid


@dataclass
class CoalitionContext:
    ledger: Ledger
    store: ContentStore
    family: ModelFamily
    settled: dict[Hashable, Any] = field(default_factory=dict, repr=False)
    """Answers about closed rounds, which never change, kept by whoever computes them."""
    vault: Vault | None = None
    """Mode B: this participant's keys; every model and update is sealed (`tclearn.privacy`)."""
    _lineages: dict[int, frozenset[bytes]] = field(default_factory=dict, repr=False)
    _rollbacks: int = field(default=0, repr=False)

    def known(self) -> dict[Hashable, Any]:
        """`settled`, emptied first if the chain lost blocks since it was filled: a closed round
        the chain no longer holds may be played again differently."""
        if self.ledger.rollbacks != self._rollbacks:
            self._rollbacks = self.ledger.rollbacks
            self.settled.clear()
            self._lineages.clear()
        return self.settled

    def block_weights(self, block_id: int) -> tuple[bytes, State]:
        """The bytes of a block's model (opened, in mode B), verified against the chain, and its
        tensors. The genesis model is never sealed: a seeded random start holds no one's data."""
        record = self.ledger.block_record(block_id)
        data = self.stored_bytes(record)
        if self.vault is not None and record.parent:
            data = self.vault.open(data, model_context(self.ledger, record.parent, record.round, record.general))
        return data, self.family.load(data)

    def stored_bytes(self, record: BlockRecord) -> bytes:
        """A block's model as stored (sealed, in mode B), checked against its hash on chain."""
        return fetch_verified(self.store, digest_to_cid(record.cid_digest), record.model_hash)

    def update_weights(self, update: UpdateRecord) -> State:
        """The tensors of a registered update, verified against its committed SHA-256."""
        data = fetch_verified(self.store, digest_to_cid(update.cid_digest), update.weights_hash)
        if self.vault is not None:
            data = self.vault.open(data, update_context(self.ledger, update.parent, update.member))
        return self.family.load(data)

    def stored_form(self, data: bytes, context: SealContext) -> bytes:
        """What goes to the store for a model's or update's bytes: sealed in mode B."""
        return data if self.vault is None else self.vault.seal(data, context)

    def put_json(self, document: dict[str, Any]) -> bytes:
        """Stores canonical JSON; returns its CIDv0 digest (the `metadataHash` on chain)."""
        return put_json(self.store, document)

    def get_json(self, digest: bytes) -> dict[str, Any]:
        return get_json(self.store, digest)

    def lineage_hashes(self, block_id: int) -> frozenset[bytes]:
        """Model hashes of `block_id` and all its ancestors: any of them resubmitted is a replay.

        A block's ancestry never changes, so each answer is kept.
        """
        self.known()
        if block_id not in self._lineages:
            record = self.ledger.block_record(block_id)
            above = self.lineage_hashes(record.parent) if record.parent else frozenset()
            self._lineages[block_id] = above | {record.model_hash}
        return self._lineages[block_id]
