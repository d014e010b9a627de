"""The supervisor (mode C): it alone holds the secret keys, and it decrypts only what the
protocol lets it.

Each pass acts at most once, like a validator's (`tclearn.engine.steps`):

1. **Provision**: a participant (member or validator) without a CKKS context gets one; the
   secret stays in the keystore, the public context goes to the store, its fingerprint on chain.
2. **Issue copies**: every participant's own encrypted copy of the head, and every validator's
   copy of an open candidate, marked per copy (`tclearn.he.head`), recorded in one transaction.
3. **Answer the oldest request**:
   - `tclearn.aggregate` (a general, for a set of updates on the head): it decrypts each masked
     update under its member's key, sums them so that the masks cancel, and seals the new head
     for the supervisors alone. It never sees one member's update unmasked. Only a set that
     holds every member issued a copy of the parent is aggregated: otherwise the masks would not
     cancel, and the answer says which members are missing.
   - `tclearn.vote` (a validator, for its outputs on its samples under its copy of a block): it
     decrypts the outputs and returns only the predicted labels, sealed for the requester.
   Every answer, a refusal included, is a `Decrypted` record: the request, the SHA-256 of what
   was decrypted, where the answer lies.

Models are sealed with mode B's envelope for the supervisors' HPKE keys; the genesis head (all
zeros) is stored in clear. The simulation's harness reads heads through the same keys.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import numpy as np
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from tclearn.chain.ledger import DecryptionRequest, Ledger
from tclearn.engine.steps import Outcome
from tclearn.errors import KeystoreError, TransactionReverted
from tclearn.he import ckks, head, training
from tclearn.he.keystore import SupervisorKeystore
from tclearn.he.records import AGGREGATE, PURPOSES, VOTE, WEIGHT_UNIT, Records, dump_head, load_head
from tclearn.model.weights import ModelRejected, sha256
from tclearn.privacy.envelope import SealContext, SealError, open_sealed, seal
from tclearn.privacy.keys import ParticipantKey
from tclearn.privacy.vault import Vault, model_context
from tclearn.store.base import StoreError, fetch_verified
from tclearn.store.cid import cid_digest, digest_to_cid

COMPUTING_ROLES = ("member", "validator")


@dataclass
class Supervisor:
    records: Records
    account: LocalAccount
    keys: SupervisorKeystore
    vault: Vault  # its HPKE key, and everyone's public keys as the chain lists them
    _heads: dict[int, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def ledger(self) -> Ledger:
        return self.records.ledger

    kind = "supervisor"  # its daemon's log: tclearn.supervisor

    @property
    def address(self) -> str:
        return self.account.address

    def recover(self) -> None:
        """After an error: the heads it opened are kept (they never change); nothing to redo,
        since each pass reads what is left to do from the chain."""

    def pass_(self) -> Outcome | None:
        """One pass: the first of provision, issue copies, answer a request that has work."""
        try:
            return self.provision() or self.issue_copies() or self.answer()
        except TransactionReverted as exc:  # a role changed meanwhile: the next pass sees it
            return Outcome("refused", detail=str(exc))

    # ------------------------------------------------------------------ 1. provision

    def provision(self) -> Outcome | None:
        issued = {c.participant for c in self.ledger.contexts_issued()}
        for participant in sorted(self.ledger.role_holders(COMPUTING_ROLES) - issued):
            context = ckks.generate()
            self.keys.add(participant, context)
            cid = self.records.store.put(context.public_bytes())
            self.ledger.issue_context(self.account, participant, context.fingerprint, cid_digest(cid))
            return Outcome("context-issued", detail=participant)
        return None

    # ------------------------------------------------------------------ 2. copies

    def issue_copies(self) -> Outcome | None:
        """Copies of the head for every member and validator, of an open candidate for every
        validator, to whoever holds a context and no copy of that block yet."""
        cursor = self.ledger.cursor()
        for block, roles in ((cursor.head, COMPUTING_ROLES), (cursor.open, ("validator",))):
            if not block:
                continue
            holding = {c.participant for c in self.ledger.copies_issued(blockId=block)}
            due = (self.ledger.role_holders(roles) & set(self.keys.fingerprints)) - holding
            if not due:
                continue
            weights = self.head_weights(block)
            copies = []
            for participant in sorted(due):
                copy = self.copy_for(block, participant, weights)
                copies.append((participant, sha256(copy), cid_digest(self.records.store.put(copy))))
            self.ledger.issue_copies(self.account, block, copies)
            return Outcome("copies-issued", block, detail=",".join(p for p, _, _ in copies))
        return None

    def copy_for(self, block: int, participant: str, weights: np.ndarray) -> bytes:
        layout = self.records.layout
        mark = head.draw_mark(self.keys.mark_key, copy_id(self.ledger.address, block, participant), layout)
        return head.encrypt_copy(self.records.public_context(participant), layout, weights, mark, block=block)

    def head_weights(self, block: int) -> np.ndarray:
        """Block `block`'s head in clear: the genesis head as stored, any other opened with
        the supervisor's key; checked against the hash on chain."""
        if block not in self._heads:
            record = self.ledger.block_record(block)
            data = fetch_verified(self.records.store, digest_to_cid(record.cid_digest), record.model_hash)
            if record.parent:
                context = model_context(self.ledger, record.parent, record.round, record.general)
                data = open_sealed(data, context, self.vault.usable_key(), self.account.address)
            self._heads[block] = load_head(data, self.records.layout)
        return self._heads[block]

    # ------------------------------------------------------------------ 3. answers

    def answer(self) -> Outcome | None:
        pending = [r for r in self.ledger.decryption_requests() if r.answer is None]
        if not pending:
            return None
        request = pending[0]
        purpose = PURPOSES.get(request.purpose, "unknown")
        try:
            data = self.records.store.get(digest_to_cid(request.cid_digest))
        except StoreError:
            return self._reply(request, b"", {"refused": "unreachable"})
        decrypted = data  # what the record names: the input, or for an aggregate its updates
        try:
            if purpose == AGGREGATE:
                document = self.aggregate(request, data)
                if "refused" not in document:
                    hashes = [self.ledger.update_record(int(u)).weights_hash for u in document["updates"]]
                    decrypted = b"".join(hashes)
            elif purpose == VOTE:
                document = self.labels(request, data)
            else:
                document = {"refused": "unknown-purpose"}
        except (ckks.HEError, ModelRejected, SealError) as exc:
            document = {"refused": exc.reason, "detail": str(exc)}
        except (StoreError, KeystoreError, ValueError, KeyError, TypeError, AttributeError) as exc:
            # A request whose document does not read is answered, refused: a poison request
            # must never stall the supervisor's queue.
            document = {"refused": "integrity", "detail": f"{type(exc).__name__}: {exc}"}
        return self._reply(request, decrypted, document)

    def _reply(self, request: DecryptionRequest, decrypted: bytes, document: dict[str, object]) -> Outcome:
        """Records the answer: the SHA-256 of what was decrypted (the outputs container; for an
        aggregate, of its updates' SHA-256s in order), and where the answer lies."""
        answer = self.records.put_json(document)
        input_hash = hashlib.sha256(decrypted).digest() if decrypted else b"\x00" * 31 + b"\x01"
        self.ledger.answer_decryption(self.account, request.id, input_hash, answer)
        return Outcome("decrypted", request.block, detail=f"{request.id}:{document.get('refused', 'ok')}")

    def aggregate(self, request: DecryptionRequest, data: bytes) -> dict[str, object]:
        """The candidate of a general's set of updates: their masked sum, unmasked by itself."""
        if not self.ledger.has_role("validator", request.requester):
            return {"refused": "not-a-validator"}
        asked = json.loads(data)
        parent, update_ids = int(asked["parent"]), [int(u) for u in asked["updates"]]
        if parent != request.block or not update_ids or len(set(update_ids)) != len(update_ids):
            return {"refused": "integrity"}
        updates = [self.ledger.update_record(u) for u in update_ids]
        if any(u.parent != parent for u in updates) or len({u.member for u in updates}) != len(updates):
            return {"refused": "integrity"}
        roster = {c.participant for c in self.ledger.copies_issued(blockId=parent)} & {
            to_checksum_address(a) for a in self.ledger.role_holders(("member",))
        }
        missing = sorted(roster - {u.member for u in updates})
        if missing:
            return {"refused": "masks-incomplete", "missing": missing}
        layout = self.records.layout
        total, weight = np.zeros(layout.shape), 0.0
        for update in updates:
            container = fetch_verified(self.records.store, digest_to_cid(update.cid_digest), update.weights_hash)
            masked, _ = training.decrypt_update(container, self.keys.context(update.member), layout)
            total += masked
            weight += update.samples / WEIGHT_UNIT
        step = total / weight
        if not np.isfinite(step).all():
            return {"refused": "non-finite"}
        weights = self.head_weights(parent) + step
        current = self.ledger.current_round()
        context = model_context(self.ledger, parent, current.number, request.requester)
        supervisors = self.vault.grantees(("supervisor",), self.account.address)
        sealed, _, _ = seal(dump_head(weights), context, self.vault.usable_key().kem, supervisors)
        cid = self.records.store.put(sealed)
        return {"parent": parent, "updates": update_ids, "model_cid": cid, "model_hash": sha256(sealed).hex()}

    def labels(self, request: DecryptionRequest, data: bytes) -> dict[str, object]:
        """A validator's predicted labels, sealed for it alone: never the logits. One answer per
        block and validator (its vote needs no more): labels of crafted inputs would show how its
        copy's weights and mark answer them, so each further batch would teach it more."""
        if not self.records.copy_of(request.block, request.requester):
            return {"refused": "no-copy"}
        earlier = [
            r
            for r in self.records.requests(VOTE, request.requester, request.block)
            if r.id < request.id and r.answer is not None
        ]
        if any("refused" not in self.records.get_json(r.answer.answer_cid_digest) for r in earlier):
            return {"refused": "already-answered"}
        logits = head.decrypt_outputs(data, self.keys.context(request.requester), self.records.layout)
        labels = logits.argmax(axis=1).astype("<u2").tobytes()
        public = self.vault.public_keys().get(request.requester)
        if public is None:
            return {"refused": "no-key"}
        context = answer_context(self.ledger.address, request)
        sealed, _, _ = seal(labels, context, self.vault.usable_key().kem, {request.requester: public})
        return {"labels_cid": self.records.store.put(sealed), "samples": len(logits)}


def copy_id(coalition: str, block: int, participant: str) -> bytes:
    return f"{coalition}|{block}|{to_checksum_address(participant)}".encode()


def answer_context(coalition: str, request: DecryptionRequest) -> SealContext:
    return SealContext(coalition, "answer", request.block, request.id, request.requester)


def open_labels(
    document: dict[str, object], records: Records, request: DecryptionRequest, key: ParticipantKey
) -> np.ndarray:
    """The labels the supervisor answered a vote request with (the requester's side)."""
    if "refused" in document:
        raise ckks.HEError(str(document["refused"]), f"the supervisor refused request {request.id}")
    sealed = records.store.get(str(document["labels_cid"]))
    labels = open_sealed(sealed, answer_context(records.ledger.address, request), key, request.requester)
    return np.frombuffer(labels, dtype="<u2").astype(np.int64)
