"""The general's step in mode C: it cannot see the updates, so the supervisor builds the candidate.

What the general can still screen, from the chain and the containers' headers alone: that each
update is registered by a member on the head (the ledger enforces the minimum batch size), that
its bytes match the SHA-256 and CID on chain, and that it is a well-formed update container made
under its member's context, of the coalition's layout. It cannot judge an update's effect:
leave-one-out or a trigger search would need each update in clear, which secure aggregation
exists to prevent (the supervisor decrypts only masked updates, and the masks cancel only in the
sum of the whole set). Whether the aggregate helps is judged whole, by the validators' vote on
encrypted inference: a bad update sinks the round's candidate, and the model does not move.

The general asks the supervisor for the aggregate of the set (a `tclearn.aggregate` request),
then proposes the block its answer names.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_account.signers.local import LocalAccount

from tclearn.chain.ledger import UpdateRecord
from tclearn.engine.steps import Pending
from tclearn.fba.context import CoalitionContext
from tclearn.fba.propose import Candidate, Screened
from tclearn.fba.vote import Voter
from tclearn.he import ckks, wire
from tclearn.he.records import AGGREGATE, Records
from tclearn.store.base import StoreError, fetch_verified
from tclearn.store.cid import digest_to_cid

LEARNING = "fedavg-encrypted"  # the metadata's recipe: masked updates summed by the supervisor


@dataclass
class EncryptedProposer:
    """The general's candidate builder in mode C (`General.builder`)."""

    records: Records
    account: LocalAccount

    def __call__(self, ctx: CoalitionContext, voter: Voter) -> Screened:
        ledger = ctx.ledger
        parent = ledger.cursor().head
        registered = ledger.updates_on(parent)
        if not registered:
            return Screened(parent, None, {})
        excluded = {u.id: why for u in registered if (why := self.integrity(u)) is not None}
        chosen = sorted(u.id for u in registered if u.id not in excluded)
        if not chosen:
            return Screened(parent, None, excluded)
        asked = [
            r
            for r in self.records.requests(AGGREGATE, self.account.address, parent)
            if self.records.get_json(r.cid_digest).get("updates") == chosen
        ]
        if not asked:
            document = self.records.put_json({"parent": parent, "updates": chosen})
            ledger.request_decryption(self.account, AGGREGATE, parent, document)
            raise Pending(f"aggregate of {len(chosen)} updates asked", acted=True)
        request = asked[-1]
        if request.answer is None:
            raise Pending("the supervisor's aggregate")
        answer = self.records.get_json(request.answer.answer_cid_digest)
        if "refused" in answer:
            why = str(answer["refused"])
            return Screened(parent, None, excluded | dict.fromkeys(chosen, why))
        metadata = ctx.put_json({"learning": LEARNING, "updates": chosen, "excluded": excluded, "request": request.id})
        candidate = Candidate(
            parent, chosen, bytes.fromhex(str(answer["model_hash"])), str(answer["model_cid"]), metadata, excluded
        )
        return Screened(parent, candidate, excluded)

    def integrity(self, update: UpdateRecord) -> str | None:
        """Why an update cannot go into the aggregate, from what the general can see."""
        try:
            data = fetch_verified(self.records.store, digest_to_cid(update.cid_digest), update.weights_hash)
            found = wire.header(data)
        except StoreError:
            return "integrity"
        except ckks.HEError as exc:
            return exc.reason
        layout = self.records.layout
        shape = (layout.update_chunks, layout.result)
        if found["kind"] != "update" or (found["count"], found["size"]) != shape:
            return "wrong-size"
        if bytes.fromhex(found["fingerprint"]) != self.records.fingerprint_of(update.member):
            return "wrong-context"
        return None
