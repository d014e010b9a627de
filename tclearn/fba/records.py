"""Members' records: the chain remembers who sent what.

An update whose member's own updates were refused for what they are (malformed, replayed,
free-riding, outlying) in `STRIKE_LIMIT` of the last `STRIKE_WINDOW` closed rounds of the
lineage is refused too (`suspended`). A sign-flipped step from a member whose own honest steps
have become small near convergence can look like an honest one; its member's record does not.
Every node computes the record the same way from the chain and the store, counting in a round
on block P only the updates registered on P before the first update registered on its
successor, so a closed round's record never changes.
"""

from __future__ import annotations

from collections import Counter

from tclearn.chain.ledger import UpdateRecord
from tclearn.fba.context import CoalitionContext
from tclearn.fba.integrity import Round, intrinsic_check, read_round
from tclearn.model.family import State
from tclearn.model.weights import WEIGHTS_REASONS

# What an update is, whatever it does to the test sets: each a strike against its member.
STRIKE_REASONS = frozenset({*WEIGHTS_REASONS, "replay", "free-ride", "outlier"})
STRIKE_WINDOW = 10  # closed rounds of the lineage a member's record covers
STRIKE_LIMIT = 3


def check_update(ctx: CoalitionContext, update: UpdateRecord, parent: Round) -> tuple[str | None, State | None]:
    """One registered update's integrity against its parent, and its member's record: why it is
    refused (or None), and its tensors when they could be read."""
    why, state = intrinsic_check(ctx, update, parent)
    if why is None and strikes(ctx, update.member, parent.block_id) >= STRIKE_LIMIT:
        return "suspended", state
    return why, state


def strikes(ctx: CoalitionContext, member: str, block_id: int) -> int:
    """How many of `member`'s updates were refused for what they are (`STRIKE_REASONS`) in the
    last `STRIKE_WINDOW` closed rounds of `block_id`'s lineage."""
    total, child = 0, block_id
    for _ in range(STRIKE_WINDOW):
        parent = ctx.ledger.block_record(child).parent  # kept by the ledger: it never changes
        if not parent:
            break
        total += _closed_round_strikes(ctx, parent, child)[member]
        child = parent
    return total


def _closed_round_strikes(ctx: CoalitionContext, parent: int, child: int) -> Counter[str]:
    """Strikes per member in the round on `parent` that `child` closed (kept: it never changes)."""
    key = ("strikes", child)
    settled = ctx.known()
    if key in settled:
        return settled[key]
    cutoff = min((u.id for u in ctx.ledger.updates_on(child)), default=None)
    updates = [u for u in ctx.ledger.updates_on(parent) if cutoff is None or u.id < cutoff]
    closed = read_round(ctx, parent, updates)
    counts = Counter(u.member for u in updates if intrinsic_check(ctx, u, closed)[0] in STRIKE_REASONS)
    if cutoff is not None:  # settled only once the next round has begun
        settled[key] = counts
    return counts
