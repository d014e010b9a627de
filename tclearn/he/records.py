"""What every mode-C node reads from the chain and the store, checked: a participant's public
context, the copy of a block issued to it, the members' mask keys, an attempt's roster and who
is present in it, the head's bytes, the documents that carry a decryption's request and answer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address

from tclearn.chain.ledger import DecryptionRequest, Ledger, RoundInfo, UpdateRecord
from tclearn.he import ckks, wire
from tclearn.he.head import HeadLayout
from tclearn.model.weights import TensorSpec, load_weights, serialize_state
from tclearn.privacy.keys import fingerprint
from tclearn.store.base import ContentStore, StoreError, fetch_verified, get_json, put_json
from tclearn.store.cid import digest_to_cid

KEM = "x25519"  # mode C's HPKE keys: they seal models and answers, and a member's agrees its masks
MASK_PURPOSE = "tclearn.mask"  # `registerKey` purpose of a member's X25519 mask key
AGGREGATE = "tclearn.aggregate"  # a general asks for the candidate of a set of updates
VOTE = "tclearn.vote"  # a validator asks for its samples' labels under a model
CORRECTION = "tclearn.correction"  # a member files its masks' correction for an attempt's absent members
PREDICT = "tclearn.predict"  # a member asks for its own samples' labels under the head
LABELS = (VOTE, PREDICT)  # the purposes the supervisor answers with labels, one batch a block and participant
PURPOSES = {keccak(text=p): p for p in (AGGREGATE, VOTE, CORRECTION, PREDICT)}
WEIGHT_UNIT = 1024  # an update is scaled by its samples / WEIGHT_UNIT before it is masked
UNREADABLE = "unreadable"  # an update whose bytes the store does not give (`Records.integrity`)


@dataclass
class Records:
    """One participant's view of mode C's records; what it fetched and checked is kept."""

    ledger: Ledger
    store: ContentStore
    layout: HeadLayout
    _contexts: dict[str, ckks.Context] = field(default_factory=dict, repr=False)
    _integrity: dict[int, str | None] = field(default_factory=dict, repr=False)

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

    def roster(self, parent: int) -> set[str]:
        """The members of a round on `parent`: those issued a copy of it who hold the member
        role. Each member's mask pairs it with every other one of them."""
        members = {to_checksum_address(a) for a in self.ledger.role_holders(("member",))}
        return {c.participant for c in self.ledger.copies_issued(blockId=parent)} & members

    def gathered(self, parent: int, attempt: RoundInfo) -> Gathered:
        """Who is present in `attempt` on `parent`: each roster member's first update registered
        in it, if that update passes `integrity`; the others are absent (what is wrong with an
        update that does not pass is kept)."""
        roster = self.roster(parent)
        present: dict[str, UpdateRecord] = {}
        excluded: dict[int, str] = {}
        unreadable: list[int] = []
        for update in self.ledger.masked_updates(attempt):
            if update.member in present or update.member not in roster or update.id in excluded:
                excluded.setdefault(update.id, "not-in-roster" if update.member not in roster else "duplicate")
                continue
            why = self.integrity(update)
            if why is None:
                present[update.member] = update
            elif why == UNREADABLE:
                unreadable.append(update.id)
                present[update.member] = update  # not absent: its bytes may well exist
            else:
                excluded[update.id] = why
        updates = sorted(present.values(), key=lambda u: u.id)
        return Gathered(parent, attempt, updates, excluded, sorted(roster - set(present)), unreadable)

    def integrity(self, update: UpdateRecord) -> str | None:
        """Why an update cannot go into the aggregate, from what anyone can see: its bytes
        against the SHA-256 and CID on chain, a well-formed update container of the coalition's
        layout, made under its member's context. `UNREADABLE` when the store does not give the
        bytes its CID names (missing, unreachable, altered): they may exist all the same. Any
        other verdict is kept: the bytes the chain commits to never change."""
        if update.id not in self._integrity:
            why = self._integrity_of(update)
            if why == UNREADABLE:
                return why
            self._integrity[update.id] = why
        return self._integrity[update.id]

    def _integrity_of(self, update: UpdateRecord) -> str | None:
        try:
            data = fetch_verified(self.store, digest_to_cid(update.cid_digest), update.weights_hash)
        except StoreError as exc:
            return "integrity" if exc.reason == "hash" else UNREADABLE
        return self.container_problem(data, "update", update.member)

    def container_problem(self, data: bytes, kind: str, member: str) -> str | None:
        """Why `data` is not a `kind` container (an update or a correction) of the coalition's
        layout under `member`'s context, from its header alone (None: it is one)."""
        try:
            found = wire.header(data)
        except ckks.HEError as exc:
            return exc.reason
        shape = (self.layout.update_chunks, self.layout.result)
        if found["kind"] != kind or (found["count"], found["size"]) != shape:
            return "wrong-size"
        if bytes.fromhex(found["fingerprint"]) != self.fingerprint_of(member):
            return "wrong-context"
        return None

    def corrections(self, gathered: Gathered) -> dict[str, DecryptionRequest]:
        """The corrections filed for `gathered`'s absent members by its present ones, by member
        (the latest each filed for exactly this attempt and absent set)."""
        found: dict[str, DecryptionRequest] = {}
        members = {u.member for u in gathered.updates}
        for request in self.requests(CORRECTION, block=gathered.parent):
            if request.requester not in members:
                continue
            try:
                document = self.get_json(request.cid_digest)
            except (StoreError, ValueError):
                continue
            if document.get("attempt") == gathered.binding_fields and document.get("absent") == gathered.absent:
                found[request.requester] = request
        return found

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


def round_binding(ledger: Ledger, parent: int, attempt: RoundInfo) -> bytes:
    """What a round's masks are bound to: the coalition, the block the updates start from, and
    the round and attempt they are registered in (`registerMaskedUpdate`). Two updates of one
    member in different attempts carry different masks, so the supervisor never learns their
    difference; a roster closed in one attempt says nothing of the next."""
    return f"{ledger.address}|{parent}|{attempt.number}|{attempt.attempt}".encode()


def survivors_needed(roster: int) -> int:
    """Present members an aggregate needs when some are absent: half the roster, and at least
    two. Each correction reveals the masks its member shares with the absent ones; with a lone
    survivor the sum would be its update."""
    return max(2, math.ceil(roster / 2))


@dataclass(frozen=True)
class Gathered:
    """An attempt's roster split: the updates present (one a member, in order) and the roster
    members absent from it (no update, or one that is not a well-formed update of its own).

    An update the store does not give is neither (`unreadable`): its member is not absent, since
    revealing its masks would expose the update once its bytes turn up, and it cannot be summed
    yet. The attempt waits; if the bytes never come, it ends without a candidate."""

    parent: int
    attempt: RoundInfo
    updates: list[UpdateRecord]
    excluded: dict[int, str]
    absent: list[str]
    unreadable: list[int] = field(default_factory=list)

    @property
    def binding_fields(self) -> list[int]:
        """The attempt as documents name it: [round, attempt]."""
        return [self.attempt.number, self.attempt.attempt]

    @property
    def enough(self) -> bool:
        """Whether the present members may reveal their masks with the absent ones."""
        return not self.absent or len(self.updates) >= survivors_needed(len(self.updates) + len(self.absent))


def dump_head(weights: np.ndarray) -> bytes:
    return serialize_state({"head": torch.from_numpy(np.ascontiguousarray(weights, dtype=np.float64))})


def load_head(data: bytes, layout: HeadLayout) -> np.ndarray:
    """A head's weights from untrusted bytes (raises `ModelRejected`)."""
    tensors = load_weights(data, {"head": TensorSpec(layout.shape, torch.float64)})
    return tensors["head"].numpy()
