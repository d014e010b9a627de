"""Validation, as a validator (and the general, before proposing) performs it.

Integrity: the stored bytes hash to what the chain committed, the file is a well-formed model of
the coalition's architecture, the parent is the head, the model is not a resubmitted ancestor
(replay), an update is not its parent unchanged (free-ride), and a candidate is exactly the
aggregate its metadata declares of the updates it lists. Viability: on the global test set G and
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


def check_update(
    ctx: CoalitionContext,
    evaluator: Evaluator,
    update: UpdateRecord,
    parent_state: State,
    parent_evals: tuple[Evaluation, Evaluation],
    lineage: frozenset[bytes],
) -> tuple[Check, State | None]:
    """One registered update judged on its own against its parent."""
    if update.weights_hash in lineage:
        return evaluator.refusal("replay"), None
    try:
        state = ctx.update_weights(update)
    except ModelRejected:
        return evaluator.refusal("architecture"), None
    except StoreError:
        return evaluator.refusal("integrity"), None
    if _relative_change(parent_state, state) < FREE_RIDE_RELATIVE_CHANGE:
        return evaluator.refusal("free-ride"), state
    return evaluator.viability(parent_evals, state), state


def check_candidate(ctx: CoalitionContext, evaluator: Evaluator, block_id: int) -> Check:
    """The full check of an open candidate block, as one validator's verdict and metrics."""
    ledger = ctx.ledger
    record = ledger.block_record(block_id)
    if record.parent != ledger.cursor().head:
        return evaluator.refusal("integrity")
    try:
        data, candidate = ctx.block_weights(block_id)
        metadata = ctx.get_json(record.metadata_hash)
        _, parent_state = ctx.block_weights(record.parent)
    except ModelRejected:
        return evaluator.refusal("architecture")
    except (StoreError, ValueError, KeyError):
        return evaluator.refusal("integrity")
    lineage = ctx.lineage_hashes(record.parent)
    if record.model_hash in lineage:
        return evaluator.refusal("replay")
    parent_evals = evaluator.evaluate(parent_state)
    states, samples = [], []
    for update_id in record.update_ids:
        update = ledger.update_record(update_id)
        check, state = check_update(ctx, evaluator, update, parent_state, parent_evals, lineage)
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
    return evaluator.viability(parent_evals, candidate)


def _relative_change(parent: State, state: State) -> float:
    delta = sum(float(torch.sum((state[k].double() - parent[k].double()) ** 2)) for k in parent)
    norm = sum(float(torch.sum(parent[k].double() ** 2)) for k in parent)
    return float(np.sqrt(delta / max(norm, 1e-12)))


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
