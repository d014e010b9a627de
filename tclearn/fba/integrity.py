"""Integrity of registered updates: what an update is, whatever it does to the test sets.

An update is refused when its stored bytes do not hash to what the chain committed or are not
a well-formed model of the coalition's architecture, when it resubmits an ancestor of its
parent (replay), when it is its parent unchanged (free ride), or when it steps several times
further than is typical of its round for the batches it trained on (outlier: scaled or
sign-flipped updates). These
are intrinsic refusals: they count against the member's record (`tclearn.fba.records`).
"""

from __future__ import annotations

import math
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
MIN_PEERS = 3  # updates a typical step is taken from, at least
HISTORY_BLOCKS = 5  # blocks of the lineage whose accepted updates stand in for missing peers


@dataclass(frozen=True)
class StepScale:
    """How long an honest step is for the batches its member trained on: e^log_a · batches^γ.

    With clipped gradients (the coalition's recipe) a member's step grows with its batches
    somewhere between a random walk (γ = ½: large shards of mixed classes, as on Fashion-MNIST,
    where dividing by the batches put members holding 60 images at 3–4× the median) and a drift
    (γ = 1: shards of one batch or two that all pull one way, as on the breast-cancer table,
    where dividing by √batches put the largest member at 3.6×). Each round's γ is fitted on its
    own updates (Theil–Sen: the median of the pairwise slopes, robust to a minority of
    attackers) and held within [½, 1].
    """

    log_a: float
    gamma: float

    def typical(self, batches: int) -> float:
        return math.exp(self.log_a) * batches**self.gamma

    @classmethod
    def fit(cls, points: Sequence[tuple[int, float]]) -> StepScale | None:
        """The scale of (batches, step) pairs; None with fewer than `MIN_PEERS` of them."""
        points = [(b, step) for b, step in points if step > 0]
        if len(points) < MIN_PEERS:
            return None
        x = np.log([b for b, _ in points])
        y = np.log([step for _, step in points])
        slopes = [(y[j] - y[i]) / (x[j] - x[i]) for i in range(len(x)) for j in range(i + 1, len(x)) if x[i] != x[j]]
        gamma = float(np.clip(np.median(slopes), 0.5, 1.0)) if slopes else 0.5
        return cls(float(np.median(y - gamma * x)), gamma)


@dataclass
class Round:
    """The updates registered on one parent block, read once, and their typical step.

    `steps` is fitted on those updates' steps (`StepScale`). With fewer than `MIN_PEERS` of
    them, it comes from a robust history instead: the rounds that made the last
    `HISTORY_BLOCKS` blocks of the lineage, where each member counts once, with the median of
    its own steps (`member_steps`). It is None while fewer than `MIN_PEERS` members stepped in
    that history too: an update is never judged against one or two peers, nor against the one
    member that happened to be accepted, so an honest member is not an outlier for lack of
    company. An update stepping several times further than is typical for its batches (scaled
    or sign-flipped) is an outlier, however harmless it looks on the test sets.
    """

    block_id: int
    state: State
    lineage: frozenset[bytes]
    steps: StepScale | None
    loaded: dict[int, State | str]


def read_round(ctx: CoalitionContext, block_id: int, updates: Sequence[UpdateRecord]) -> Round:
    _, state = ctx.block_weights(block_id)
    loaded = {update.id: load_update(ctx, update) for update in updates}
    points = [
        (batches(update), step_size(state, weights))
        for update in updates
        if not isinstance(weights := loaded[update.id], str)
    ]
    if len(points) < MIN_PEERS:
        history = member_steps(ctx, block_id).values()
        points = [(own[0][0], float(np.median([step for _, step in own]))) for own in history]
    return Round(block_id, state, ctx.lineage_hashes(block_id), StepScale.fit(points), loaded)


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
    if parent.steps is not None and step_size(parent.state, state) > OUTLIER_FACTOR * parent.steps.typical(
        batches(update)
    ):
        return "outlier", state
    return None, state


def load_update(ctx: CoalitionContext, update: UpdateRecord) -> State | str:
    """The update's tensors, or why they cannot be had (a `WEIGHTS_REASONS` code, `integrity`)."""
    try:
        return ctx.update_weights(update)
    except ModelRejected as exc:
        return exc.reason
    except StoreError:
        return "integrity"


def batches(update: UpdateRecord) -> int:
    """The batches an epoch of the member's data makes, as it declared them."""
    return max(1, update.samples // max(1, update.batch_size))


def step_size(parent: State, state: State) -> float:
    """L2 distance between two models' weights."""
    return float(np.sqrt(sum(float(torch.sum((state[k].double() - parent[k].double()) ** 2)) for k in parent)))


def _norm(state: State) -> float:
    return float(np.sqrt(sum(float(torch.sum(t.double() ** 2)) for t in state.values())))


def member_steps(ctx: CoalitionContext, block_id: int) -> dict[str, list[tuple[int, float]]]:
    """Each member's steps (with its batches) in the rounds that made the last `HISTORY_BLOCKS` blocks
    of the lineage ending at `block_id`: every readable update registered on those blocks'
    parents up to the newest each block holds, accepted or not (kept: it never changes)."""
    steps: dict[str, list[tuple[int, float]]] = {}
    for block in ctx.ledger.lineage(block_id)[:HISTORY_BLOCKS]:
        record = ctx.ledger.block_record(block)
        if not record.parent:
            continue
        key = ("member-steps", block)
        known = ctx.known()
        if key not in known:
            parent = ctx.block_weights(record.parent)[1]
            newest = max(record.update_ids)  # what the block's general could have seen, at least
            known[key] = [
                (update.member, (batches(update), step_size(parent, weights)))
                for update in ctx.ledger.updates_on(record.parent)
                if update.id <= newest and not isinstance(weights := load_update(ctx, update), str)
            ]
        for member, step in known[key]:
            steps.setdefault(member, []).append(step)
    return steps
