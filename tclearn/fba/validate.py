"""Validation, as a validator (and the general, before proposing) performs it.

Integrity: the stored bytes hash to what the chain committed, the file is a well-formed model of
the coalition's architecture, the parent is the head, the model is not a resubmitted ancestor
(replay), an update is not its parent unchanged (free-ride) nor a step several times larger than
its peers' (outlier: scaled or sign-flipped updates), and a candidate is exactly the aggregate
its metadata declares of the updates it lists. Viability: on the global test set G and
on this validator's local test set L, the candidate does not degrade its parent beyond the
coalition's tolerance (`tclearn.fba.policy`). Each update inside a candidate is also judged on
its own, so one poisoned update cannot hide inside an aggregate.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from tclearn.chain.ledger import UpdateRecord
from tclearn.fba.aggregate import rule as aggregation_rule
from tclearn.fba.context import CoalitionContext
from tclearn.fba.metrics import VoteMetrics
from tclearn.fba.policy import Tolerance, judge
from tclearn.model.family import ModelFamily, State
from tclearn.model.train import Evaluation, evaluate
from tclearn.model.validate import ModelRejected
from tclearn.store.base import StoreError

FREE_RIDE_RELATIVE_CHANGE = 1e-6
OUTLIER_FACTOR = 3.0


@dataclass(frozen=True)
class Check:
    accept: bool
    reason: str
    metrics: VoteMetrics


@dataclass
class Evaluator:
    """A node's test sets: G (shared by all validators) and its own L."""

    family: ModelFamily
    global_x: np.ndarray
    global_y: np.ndarray
    local_x: np.ndarray
    local_y: np.ndarray
    tolerance: Tolerance

    def evaluate(self, state: State) -> tuple[Evaluation, Evaluation]:
        model = self.family.module(state)
        classes = self.family.spec.num_classes
        return evaluate(model, self.global_x, self.global_y, classes), evaluate(
            model, self.local_x, self.local_y, classes
        )

    def viability(self, parent: tuple[Evaluation, Evaluation], state: State) -> Check:
        g, local = self.evaluate(state)
        verdict = judge(parent[0], g, parent[1], local, self.tolerance)
        return Check(verdict.accept, verdict.reason, _metrics(g, local, verdict.reason))

    def refusal(self, reason: str) -> Check:
        empty = VoteMetrics(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, len(self.global_y), len(self.local_y), reason)
        return Check(False, reason, empty)


def combine(family: ModelFamily, metadata: dict, states: Sequence[State], samples: Sequence[int]) -> State:
    """The candidate that `metadata` declares: one update as is (sequential), or an aggregate."""
    if metadata["learning"] == "sequential":
        if len(states) != 1:
            raise ValueError("a sequential block holds exactly one update")
        return states[0]
    params = metadata.get("params", {})
    combined = aggregation_rule(metadata["rule"], **params)([family.to_arrays(s) for s in states], samples)
    return family.from_arrays(combined)


@dataclass
class ParentView:
    """What judging updates against one parent block needs, computed once per parent.

    `typical_step` is the median step size (L2 distance to the parent) of the updates registered
    on that parent, or, with fewer than three of them, of the last accepted steps of the lineage:
    an update whose step is several times the typical one (a scaled or sign-flipped update) is
    an outlier, however harmless it looks on the test sets.
    """

    block_id: int
    state: State
    evals: tuple[Evaluation, Evaluation]
    lineage: frozenset[bytes]
    typical_step: float | None
    loaded: dict[int, State | str]


def parent_view(ctx: CoalitionContext, evaluator: Evaluator, block_id: int) -> ParentView:
    _, state = ctx.block_weights(block_id)
    loaded: dict[int, State | str] = {}
    for update in ctx.ledger.updates_on(block_id):
        try:
            loaded[update.id] = ctx.update_weights(update)
        except ModelRejected:
            loaded[update.id] = "architecture"
        except StoreError:
            loaded[update.id] = "integrity"
    steps = [step_size(state, s) for s in loaded.values() if not isinstance(s, str)]
    if len(steps) < 3:
        steps = _lineage_steps(ctx, block_id)
    typical = float(np.median(steps)) if len(steps) >= 2 else None
    return ParentView(block_id, state, evaluator.evaluate(state), ctx.lineage_hashes(block_id), typical, loaded)


def check_update(
    ctx: CoalitionContext, evaluator: Evaluator, update: UpdateRecord, parent: ParentView
) -> tuple[Check, State | None]:
    """One registered update judged on its own against its parent."""
    if update.weights_hash in parent.lineage:
        return evaluator.refusal("replay"), None
    state = parent.loaded.get(update.id)
    if state is None:
        try:
            state = ctx.update_weights(update)
        except ModelRejected:
            state = "architecture"
        except StoreError:
            state = "integrity"
    if isinstance(state, str):
        return evaluator.refusal(state), None
    step = step_size(parent.state, state)
    if step < FREE_RIDE_RELATIVE_CHANGE * _norm(parent.state):
        return evaluator.refusal("free-ride"), state
    if parent.typical_step is not None and step > OUTLIER_FACTOR * parent.typical_step:
        return evaluator.refusal("outlier"), state
    return evaluator.viability(parent.evals, state), state


def check_candidate(ctx: CoalitionContext, evaluator: Evaluator, block_id: int) -> Check:
    """The full check of an open candidate block, as one validator's verdict and metrics."""
    ledger = ctx.ledger
    record = ledger.block_record(block_id)
    if record.parent != ledger.cursor().head:
        return evaluator.refusal("integrity")
    try:
        data, candidate = ctx.block_weights(block_id)
        metadata = ctx.get_json(record.metadata_hash)
    except ModelRejected:
        return evaluator.refusal("architecture")
    except (StoreError, ValueError, KeyError):
        return evaluator.refusal("integrity")
    parent = parent_view(ctx, evaluator, record.parent)
    if record.model_hash in parent.lineage:
        return evaluator.refusal("replay")
    states, samples = [], []
    for update_id in record.update_ids:
        update = ledger.update_record(update_id)
        check, state = check_update(ctx, evaluator, update, parent)
        if not check.accept or state is None:
            return check
        states.append(state)
        samples.append(update.samples)
    try:
        expected = ctx.family.dump(combine(ctx.family, metadata, states, samples))
    except (ValueError, KeyError, TypeError):
        return evaluator.refusal("integrity")
    if hashlib.sha256(expected).digest() != hashlib.sha256(data).digest():
        return evaluator.refusal("integrity")
    return evaluator.viability(parent.evals, candidate)


def step_size(parent: State, state: State) -> float:
    """L2 distance between two models' weights."""
    return float(np.sqrt(sum(float(torch.sum((state[k].double() - parent[k].double()) ** 2)) for k in parent)))


def _norm(state: State) -> float:
    return float(np.sqrt(sum(float(torch.sum(t.double() ** 2)) for t in state.values())))


def _lineage_steps(ctx: CoalitionContext, block_id: int, depth: int = 5) -> list[float]:
    """Step sizes of the last accepted blocks (each against its parent)."""
    steps = []
    for block in ctx.ledger.lineage(block_id)[:depth]:
        parent = ctx.ledger.block(block).parent
        if parent:
            steps.append(step_size(ctx.block_weights(parent)[1], ctx.block_weights(block)[1]))
    return steps


def _metrics(g: Evaluation, local: Evaluation, reason: str) -> VoteMetrics:
    return VoteMetrics(
        g.accuracy,
        local.accuracy,
        g.balanced_accuracy,
        local.balanced_accuracy,
        g.loss,
        local.loss,
        g.samples,
        local.samples,
        reason,
    )
