"""The general's step in mode C: it cannot see the updates, so the supervisor builds the candidate.

What the general can still screen, from the chain and the containers' headers alone: that each
update is registered by a member on the head (the ledger enforces the minimum batch size), that
its bytes match the SHA-256 and CID on chain, and that it is a well-formed update container made
under its member's context, of the coalition's layout. It cannot judge an update's effect:
leave-one-out or a trigger search would need each update in clear, which secure aggregation
exists to prevent (the supervisor decrypts only masked updates, and the masks cancel only in the
sum of the whole set). Whether the aggregate helps is judged whole, by the validators' vote on
encrypted inference: a bad update sinks the round's candidate, and the model does not move.

The updates it aggregates are those registered in the round's current attempt, which their masks
are bound to. Once its gathering window has passed (or every member is in) it closes the
attempt's roster on chain
(`closeRoster`): from then on no update joins it, so members absent from it can be unmasked out
of the sum. If some are absent, it waits for every present member's correction
(`tclearn.he.member`). It then asks the supervisor for the aggregate of the set (a
`tclearn.aggregate` request naming the updates, the absent members and the corrections), and
proposes the block its answer names. A present member that never files its correction leaves the
attempt without a candidate: the general is redrawn, and the members submit in the next attempt,
under fresh masks.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_account.signers.local import LocalAccount

from tclearn.chain.ledger import Ledger
from tclearn.engine.steps import General, Pending
from tclearn.fba.context import CoalitionContext
from tclearn.fba.propose import Candidate, Screened
from tclearn.fba.vote import Voter
from tclearn.he.records import AGGREGATE, Records

LEARNING = "fedavg-encrypted"  # the metadata's recipe: masked updates summed by the supervisor


@dataclass
class EncryptedProposer:
    """The general's candidate builder in mode C (`General.builder`)."""

    records: Records
    account: LocalAccount

    def __call__(self, ctx: CoalitionContext, voter: Voter) -> Screened:
        ledger = ctx.ledger
        parent, attempt = ledger.cursor().head, ledger.current_round()
        if not ledger.masked_updates(attempt):
            return Screened(parent, None, {})
        if not ledger.roster_closed(attempt):
            ledger.close_roster(self.account)
            raise Pending(f"roster of round {attempt.number}.{attempt.attempt} closed", acted=True)
        gathered = self.records.gathered(parent, attempt)
        if gathered.unreadable:
            raise Pending(f"updates {gathered.unreadable} from the store")
        excluded = dict(gathered.excluded)
        chosen = [u.id for u in gathered.updates]
        if not chosen:
            return Screened(parent, None, excluded)
        corrections: list[int] = []
        if gathered.absent:
            if not gathered.enough:
                return Screened(parent, None, excluded | dict.fromkeys(chosen, "too-few-present"))
            filed = self.records.corrections(gathered)
            waiting = [u.member for u in gathered.updates if u.member not in filed]
            if waiting:
                raise Pending(f"corrections from {len(waiting)} of {len(chosen)} members")
            corrections = [filed[u.member].id for u in gathered.updates]
        wanted = {
            "parent": parent,
            "attempt": gathered.binding_fields,
            "updates": chosen,
            "absent": gathered.absent,
            "corrections": corrections,
        }
        asked = [
            r
            for r in self.records.requests(AGGREGATE, self.account.address, parent)
            if self.records.get_json(r.cid_digest) == wanted
        ]
        if not asked:
            ledger.request_decryption(self.account, AGGREGATE, parent, self.records.put_json(wanted))
            raise Pending(f"aggregate of {len(chosen)} updates asked", acted=True)
        request = asked[-1]
        if request.answer is None:
            raise Pending("the supervisor's aggregate")
        answer = self.records.get_json(request.answer.answer_cid_digest)
        if "refused" in answer:
            why = str(answer["refused"])
            return Screened(parent, None, excluded | dict.fromkeys(chosen, why))
        metadata = ctx.put_json(
            {
                "learning": LEARNING,
                "updates": chosen,
                "excluded": excluded,
                "absent": gathered.absent,
                "request": request.id,
            }
        )
        candidate = Candidate(
            parent, chosen, bytes.fromhex(str(answer["model_hash"])), str(answer["model_cid"]), metadata, excluded
        )
        return Screened(parent, candidate, excluded)

    def gathering_since(self, ledger: Ledger) -> int | None:
        """When the gathering window opened: the first update of the current attempt (None,
        so that the general need not wait, once every member of the roster is in)."""
        attempt = ledger.current_round()
        registered = {u.member for u in ledger.masked_updates(attempt)}
        if registered >= self.records.roster(ledger.cursor().head):
            return None
        return ledger.first_masked_update_time(attempt)


def encrypted_general(records: Records, account: LocalAccount, gather_s: int) -> General:
    """A mode-C validator's duty as general."""
    proposer = EncryptedProposer(records, account)
    return General(account, gather_s, builder=proposer, gathering_since=proposer.gathering_since)
