"""The validator's check of an open candidate block, composed of the protocol's concerns.

Integrity (`integrity`): the stored bytes hash to what the chain committed, the file is a
well-formed model of the coalition's architecture, the parent is the head, the model is not a
resubmitted ancestor, and each update in it passes its own integrity and its member's record
(`records`). The candidate declares the coalition's strategy and is exactly the combination it
declares of the updates it lists (recomputed here). Contribution (`contribution`): no update in
it carries a trigger (`trigger`) or harms the aggregate. Viability (`viability`): on G and on
this validator's L the candidate does not degrade its parent beyond the coalition's tolerance.
"""

from __future__ import annotations

from typing import Any

from tclearn.fba.context import CoalitionContext
from tclearn.fba.contribution import Judgements, harmful_updates
from tclearn.fba.integrity import Round, read_round
from tclearn.fba.records import check_update
from tclearn.fba.strategy import Strategy, declared_step
from tclearn.fba.update import Update
from tclearn.fba.viability import Check, Evaluator
from tclearn.model.weights import ModelRejected
from tclearn.privacy.vault import model_context
from tclearn.store.base import StoreError


def check_candidate(ctx: CoalitionContext, evaluator: Evaluator, strategy: Strategy, block_id: int) -> Check:
    """The full check of an open candidate block, as one validator's verdict and metrics."""
    ledger = ctx.ledger
    record = ledger.block_record(block_id)
    if record.parent != ledger.cursor().head:
        return evaluator.refusal("integrity")
    try:
        data, _ = ctx.block_weights(block_id)
        if ctx.vault is not None:  # mode B: the key reaches exactly whom the chain authorises
            sealed_for = model_context(ledger, record.parent, record.round, record.general)
            ctx.vault.check_grants(ctx.stored_bytes(record), sealed_for)
        metadata = ctx.get_json(record.metadata_hash)
    except ModelRejected as exc:
        return evaluator.refusal(exc.reason)
    except (StoreError, ValueError, KeyError):
        return evaluator.refusal("integrity")
    if not strategy.declared_by(metadata):
        return evaluator.refusal("integrity")  # made by another recipe than the coalition's
    parent = read_round(ctx, record.parent, ledger.updates_on(record.parent))
    if record.model_hash in parent.lineage:
        return evaluator.refusal("replay")
    updates = []
    for update_id in record.update_ids:
        update = ledger.update_record(update_id)
        why, state = check_update(ctx, update, parent)
        if why is not None or state is None:
            return evaluator.refusal(why or "integrity")
        updates.append(Update(update, state))
    step = declared_step(metadata)
    if step is None:
        return evaluator.refusal("integrity")  # a step the coalition does not take
    peers = round_peers(ctx, parent, [*record.update_ids, *_listed_excluded(metadata)])
    judgements = Judgements.of(evaluator, ctx.family, strategy, parent.state, peers)
    try:
        expected = ctx.family.dump(judgements.aggregate(updates, step))
    except (ValueError, KeyError, TypeError):
        return evaluator.refusal("integrity")
    if expected != data:
        return evaluator.refusal("integrity")
    if judgements.backdoor_carriers(updates):
        return evaluator.refusal("backdoor")
    if harmful_updates(judgements, updates):
        return evaluator.refusal("harmful-update")
    return judgements.viability(updates, step)


def round_peers(ctx: CoalitionContext, parent: Round, listed: list[int]) -> list[Update]:
    """The updates on the parent that the general saw, as far as the chain shows: every one
    registered up to the newest it lists (in the block or as left out), that passes integrity."""
    newest = max(listed)
    peers = []
    for update in ctx.ledger.updates_on(parent.block_id):
        if update.id <= newest:
            why, state = check_update(ctx, update, parent)
            if why is None and state is not None:
                peers.append(Update(update, state))
    return peers


def _listed_excluded(metadata: dict[str, Any]) -> list[int]:
    """The update ids a candidate's metadata lists as left out (ignored when malformed)."""
    try:
        return [int(k) for k in metadata.get("excluded", {})]
    except (TypeError, ValueError, AttributeError):
        return []
