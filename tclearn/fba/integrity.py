"""Integrity of registered updates: what an update is, whatever it does to the test sets.

An update is refused when its stored bytes do not hash to what the chain committed or are not
a well-formed model of the coalition's architecture, when it resubmits an ancestor of its
parent (replay), when it is its parent unchanged (free ride), or when it steps several times
further per batch than is typical of its round (outlier: scaled or sign-flipped updates). These
are intrinsic refusals: they count against the member's record (`tclearn.fba.records`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from tclearn.chain.ledger import UpdateRecord
from tclearn.fba.context import CoalitionContext
from tclearn.model.family import State
from tclearn.model.weights import ModelRejected
from tclearn.store.base import StoreError

FREE_RIDE_RELATIVE_CHANGE = 1e-6
OUTLIER_FACTOR = 3.0


@dataclass
class Round:
    """The updates registered on one parent block, read once, and their typical step.

    `typical_step` is the median step size per batch (L2 distance to the parent divided by the
    batches an epoch of the member's data makes) of those updates, or, with fewer than three of
    them, of the last single-update blocks of the lineage. An update stepping several times
    further per batch than is typical (scaled or sign-flipped) is an outlier, however harmless
    it looks on the test sets.
    """

    block_id: int
    state: State
    lineage: frozenset[bytes]
    typical_step: float | None
    loaded: dict[int, State | str]


def read_round(ctx: CoalitionContext, block_id: int, updates: Sequence[UpdateRecord]) -> Round:
    _, state = ctx.block_weights(block_id)
    loaded = {update.id: load_update(ctx, update) for update in updates}
    steps = [
        step_per_batch(state, weights, update)
        for update in updates
        if not isinstance(weights := loaded[update.id], str)
    ]
    if len(steps) < 3:
        steps = _lineage_steps(ctx, block_id)
    typical = float(np.median(steps)) if len(steps) >= 2 else None
    return Round(block_id, state, ctx.lineage_hashes(block_id), typical, loaded)


def intrinsic_check(ctx: CoalitionContext, update: UpdateRecord, parent: Round) -> tuple[str | None, State | None]:
    """What the update itself is: malformed, a replay, a free ride, an outlier, or None; and its
    tensors when they could be read."""
    state = parent.loaded.get(update.id) or load_update(ctx, update)
    if isinstance(state, str):
        return state, None
    if update.weights_hash in parent.lineage:
        return "replay", state
    if step_size(parent.state, state) < FREE_RIDE_RELATIVE_CHANGE * _norm(parent.state):
        return "free-ride", state
    if parent.typical_step is not None and step_per_batch(parent.state, state, update) > (
        OUTLIER_FACTOR * parent.typical_step
    ):
        return "outlier", state
    return None, state


def load_update(ctx: CoalitionContext, update: UpdateRecord) -> State | str:
    """The update's tensors, or why they cannot be had (`architecture`, `integrity`)."""
    try:
        return ctx.update_weights(update)
    except ModelRejected:
        return "architecture"
    except StoreError:
        return "integrity"


def step_per_batch(parent: State, state: State, update: UpdateRecord) -> float:
    return step_size(parent, state) / max(1, update.samples // max(1, update.batch_size))


def step_size(parent: State, state: State) -> float:
    """L2 distance between two models' weights."""
    return float(np.sqrt(sum(float(torch.sum((state[k].double() - parent[k].double()) ** 2)) for k in parent)))


def _norm(state: State) -> float:
    return float(np.sqrt(sum(float(torch.sum(t.double() ** 2)) for t in state.values())))


def _lineage_steps(ctx: CoalitionContext, block_id: int, depth: int = 5) -> list[float]:
    """Steps per batch of the last single-update blocks of the lineage (sequential learning)."""
    steps = []
    for block in ctx.ledger.lineage(block_id)[:depth]:
        record = ctx.ledger.block_record(block)
        if len(record.update_ids) == 1:
            update = ctx.ledger.update_record(record.update_ids[0])
            steps.append(step_per_batch(ctx.block_weights(record.parent)[1], ctx.block_weights(block)[1], update))
    return steps
