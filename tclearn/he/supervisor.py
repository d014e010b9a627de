"""The supervisor (mode C): it alone holds the secret keys, and it decrypts only what the
protocol lets it.

Each pass acts at most once, like a validator's (`tclearn.engine.steps`):

1. **Provision**: a participant (member or validator) without a CKKS context gets one; the
   secret stays in the keystore, the public context goes to the store, its fingerprint on chain.
2. **Issue copies**: every participant's own encrypted copy of the head, and every validator's
   copy of an open candidate, marked per copy (`tclearn.he.head`), recorded in one transaction.
3. **Answer the oldest request**:
   - `tclearn.aggregate` (a general, for the updates of a round's attempt on the head): it
     decrypts each masked update under its member's key, sums them so that the masks cancel,
     and seals the new head for the supervisors alone. It never sees one member's update
     unmasked. The set must be every update present in the attempt (`Records.gathered`); if
     some roster members are absent, the attempt's roster must be closed on chain and the
     request must name a correction of every present member, which it decrypts and subtracts
     (`tclearn.he.masks.correction`). Otherwise the masks would not cancel, and the answer
     says why (`masks-incomplete`, with the members missing).
   - `tclearn.correction` (a present member, for the attempt's absent members): it checks the
     container is a correction under the member's context, and acknowledges it; it decrypts
     it only in the aggregate that names it.
   - `tclearn.vote` (a validator, for its outputs on its samples under its copy of a block) and
     `tclearn.predict` (a member, the same under its copy of the head): it decrypts the outputs
     and returns only the predicted labels, sealed for the requester, one batch a block and
     participant whatever the purpose (`tclearn.he.inference`).
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

from tclearn.chain.ledger import DecryptionRequest, Ledger, RoundInfo
from tclearn.engine.steps import Outcome
from tclearn.errors import KeystoreError, TransactionReverted
from tclearn.he import ckks, head, training
from tclearn.he.keystore import SupervisorKeystore
from tclearn.he.records import (
    AGGREGATE,
    CORRECTION,
    LABELS,
    PURPOSES,
    WEIGHT_UNIT,
    Gathered,
    Records,
    dump_head,
    load_head,
)
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
                document, decrypted = self.aggregate(request, data)
            elif purpose == CORRECTION:
                document, decrypted = self.correction(request, data)
            elif purpose in LABELS:
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

    def aggregate(self, request: DecryptionRequest, data: bytes) -> tuple[dict[str, object], bytes]:
        """The candidate of a general's set of updates: their masked sum, unmasked by itself and
        by the present members' corrections for the absent ones. Returns the answer and what the
        record names as decrypted: the SHA-256s of the updates, then of the corrections."""
        if not self.ledger.has_role("validator", request.requester):
            return {"refused": "not-a-validator"}, data
        asked = json.loads(data)
        number, attempt = (int(v) for v in asked["attempt"])
        parent, update_ids = int(asked["parent"]), [int(u) for u in asked["updates"]]
        if parent != request.block or not update_ids:
            return {"refused": "integrity"}, data
        gathered = self.records.gathered(parent, RoundInfo(number, attempt, "", 0))
        if gathered.unreadable:
            return {"refused": "unreadable", "updates": gathered.unreadable}, data
        missing = sorted(set(gathered.absent) - set(asked["absent"]))
        if update_ids != [u.id for u in gathered.updates] or missing:
            return {"refused": "masks-incomplete", "missing": missing or gathered.absent}, data
        corrections = self.corrections_for(gathered, [int(r) for r in asked["corrections"]])
        if isinstance(corrections, str):
            return {"refused": corrections, "missing": gathered.absent}, data
        layout = self.records.layout
        total, weight, read = np.zeros(layout.shape), 0.0, []
        for update in gathered.updates:
            container = fetch_verified(self.records.store, digest_to_cid(update.cid_digest), update.weights_hash)
            masked, _ = training.decrypt_update(container, self.keys.context(update.member), layout)
            total += masked
            weight += update.samples / WEIGHT_UNIT
            read.append(update.weights_hash)
        for member, container in corrections:
            values, _ = training.decrypt_correction(container, self.keys.context(member), layout)
            total -= values
            read.append(sha256(container))
        step = total / weight
        if not np.isfinite(step).all():
            return {"refused": "non-finite"}, b"".join(read)
        weights = self.head_weights(parent) + step
        current = self.ledger.current_round()
        context = model_context(self.ledger, parent, current.number, request.requester)
        supervisors = self.vault.grantees(("supervisor",), self.account.address)
        sealed, _, _ = seal(dump_head(weights), context, self.vault.usable_key().kem, supervisors)
        cid = self.records.store.put(sealed)
        answer = {"parent": parent, "updates": update_ids, "model_cid": cid, "model_hash": sha256(sealed).hex()}
        return answer, b"".join(read)

    def corrections_for(self, gathered: Gathered, request_ids: list[int]) -> list[tuple[str, bytes]] | str:
        """The correction containers a set with absent members needs, one from each present
        member, each named by the aggregate request (or why they do not do)."""
        if not gathered.absent:
            return [] if not request_ids else "integrity"
        if not self.ledger.roster_closed(gathered.attempt):
            return "roster-open"  # an absent member could still join, and be exposed
        if not gathered.enough:
            return "too-few-present"
        filed = self.records.corrections(gathered)
        if sorted(r.id for r in filed.values()) != sorted(request_ids) or len(filed) != len(gathered.updates):
            return "masks-incomplete"
        containers = []
        for update in gathered.updates:
            document = self.records.get_json(filed[update.member].cid_digest)
            data = self.records.store.get(str(document["correction_cid"]))
            if sha256(data).hex() != document["correction_hash"]:
                return "integrity"
            containers.append((update.member, data))
        return containers

    def correction(self, request: DecryptionRequest, data: bytes) -> tuple[dict[str, object], bytes]:
        """Acknowledges a member's correction once its container reads as one, under its context
        and of the coalition's layout; the aggregate naming it decrypts it."""
        if not self.ledger.has_role("member", request.requester):
            return {"refused": "not-a-member"}, data
        document = json.loads(data)
        container = self.records.store.get(str(document["correction_cid"]))
        if sha256(container).hex() != document["correction_hash"] or int(document["parent"]) != request.block:
            return {"refused": "integrity"}, data
        if (why := self.records.container_problem(container, "correction", request.requester)) is not None:
            return {"refused": why}, container
        return {"filed": True, "absent": list(document["absent"])}, container

    def labels(self, request: DecryptionRequest, data: bytes) -> dict[str, object]:
        """A participant's predicted labels, sealed for it alone: never the logits. One answer
        per block and participant (a vote needs no more, and a member batches its samples):
        labels of crafted inputs would show how its copy's weights and mark answer them, so each
        further batch would teach it more."""
        if not self.records.copy_of(request.block, request.requester):
            return {"refused": "no-copy"}
        earlier = [
            r
            for purpose in LABELS
            for r in self.records.requests(purpose, request.requester, request.block)
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
