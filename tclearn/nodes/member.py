"""A member's one-shot step and its status: train the head on local data, check, store, register.

A member is told "registered" only for an update the chain it can still read holds, and it keeps
its own record of what it registered (`<dir>/state/<name>/submissions.json`): a chain that lost
blocks (a devnet killed before it saved them) is found out by `member status`, which reports the
lost update so that the member submits again.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tclearn.chain.ledger import BlockState
from tclearn.data.datasets import DataError
from tclearn.engine.steps import Submission, submit_update
from tclearn.errors import ChainError, ConfigError
from tclearn.fba.metrics import VoteMetrics
from tclearn.fileio import write_atomic
from tclearn.model.family import State
from tclearn.model.train import TrainConfig, train_local
from tclearn.nodes.site import Node
from tclearn.store.base import StoreError


def submit(node: Node, x: np.ndarray, y: np.ndarray, config: TrainConfig, seed: int) -> Submission:
    """Trains the current head on this member's data with `config`, checks the result and
    registers the step; refuses, before anything reaches the chain, weights validators would
    refuse (its labels were checked on loading: `load_local_data`)."""
    ctx = node.ctx
    min_batch = ctx.ledger.params().min_batch_size

    def train(parent: State) -> State:
        model = ctx.family.module(parent)
        train_local(model, x, y, config, min_batch, seed)
        state = model.state_dict()
        if not all(bool(torch.isfinite(t).all()) for t in state.values() if t.is_floating_point()):
            raise DataError(
                "training on this data gave non-finite weights (NaN or infinity): check its scale "
                "(see the coalition's preprocessing) and the learning rate; nothing was registered"
            )
        return state

    done = submit_update(ctx, node.account, ctx.ledger.cursor().head, train, len(y), config.batch_size)
    on_chain = ctx.ledger.update(done.update_id)
    if on_chain.member != node.account.address or bytes(on_chain.weights_hash) != done.weights_hash:
        raise ChainError(f"update {done.update_id} was mined but the chain no longer holds it: submit again")
    Submissions(node).add(done)
    return done


class Submissions:
    """This member's own record of the updates it registered (the chain may lose some)."""

    def __init__(self, node: Node):
        self.path: Path = node.config.directory / "state" / node.name / "submissions.json"

    def load(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        try:
            return list(json.loads(self.path.read_text()))
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{self.path} is damaged: restore it, or delete it to forget past submissions") from exc

    def add(self, done: Submission) -> None:
        entry = {**asdict(done), "weights_hash": done.weights_hash.hex()}
        write_atomic(self.path, json.dumps([*self.load(), entry], indent=1), mode=0o600, durable=True)


@dataclass(frozen=True)
class UpdateFate:
    """What became of one update: `final` (in block N), `rejected` (its block was; `reason`: the
    one most of the validators' reject votes give), `expired` (its block was),
    `pending` (its block is being voted), `excluded` (the general left it out; `reason`),
    `waiting` (its parent is still the head), `stale` (the head moved on without it), or `lost`
    (registered, but the chain no longer holds it: submit again)."""

    update_id: int
    parent: int
    block: int | None
    state: str
    reason: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "update": self.update_id,
            "parent": self.parent,
            "block": self.block,
            "state": self.state,
            "reason": self.reason,
        }

    def line(self) -> str:
        where = f"block {self.block}" if self.block is not None else "no block"
        why = f" ({self.reason})" if self.reason else ""
        return f"update {self.update_id} on block {self.parent}: {self.state}{why}, {where}"


def fates(node: Node) -> list[UpdateFate]:
    """What became of each update this member registered, read from chain and store."""
    ledger = node.ctx.ledger
    mine = [u for u in ledger.registered_updates() if u.member == node.account.address]
    cursor = ledger.cursor()
    blocks = [ledger.block_record(b) for b in range(2, cursor.block_count + 1)]
    result = []
    for update in mine:
        holders = [b.id for b in blocks if update.id in b.update_ids]
        if holders:
            block = holders[-1]
            state = ledger.block(block).state
            reason = _rejected_for(node, block) if state is BlockState.REJECTED else None
            result.append(UpdateFate(update.id, update.parent, block, state.name.lower(), reason))
            continue
        excluded = _excluded_by(node, [b for b in blocks if b.parent == update.parent], update.id)
        if excluded is not None:
            block, reason = excluded
            result.append(UpdateFate(update.id, update.parent, block, "excluded", reason))
        else:
            waiting = update.parent == cursor.head
            result.append(UpdateFate(update.id, update.parent, None, "waiting" if waiting else "stale"))
    on_chain = {(u.id, bytes(u.weights_hash).hex()) for u in mine}
    for entry in Submissions(node).load():
        if (entry["update_id"], entry["weights_hash"]) not in on_chain:
            result.append(UpdateFate(entry["update_id"], entry["parent"], None, "lost", "the chain lost it"))
    return result


def record(found: list[UpdateFate]) -> dict[str, object]:
    """A member's record in one object: updates submitted, in a final block, and left out by
    reason (excluded by the general or refused with their block)."""
    states = Counter(fate.state for fate in found)
    left_out = Counter(fate.reason for fate in found if fate.state in ("excluded", "rejected") and fate.reason)
    return {
        "submitted": len(found) - states["lost"],
        "accepted": states["final"],
        "states": dict(sorted(states.items())),
        "left_out": dict(sorted(left_out.items())),
    }


def record_line(summary: dict[str, object]) -> str:
    reasons = ", ".join(f"{n} {why}" for why, n in summary["left_out"].items())  # type: ignore[attr-defined]
    line = f"{summary['submitted']} submitted, {summary['accepted']} in final blocks"
    return f"{line}; left out: {reasons}" if reasons else line


def _rejected_for(node: Node, block: int) -> str | None:
    """Why the validators rejected `block`: the reason most of their reject votes give."""
    reasons: Counter[str] = Counter()
    for vote in node.ctx.ledger.votes(block):
        if not vote["accept"]:
            try:
                reasons[VoteMetrics.decode(bytes(vote["metrics"])).reason] += 1
            except (ValueError, IndexError):
                continue  # a metrics word this version cannot read
    return reasons.most_common(1)[0][0] if reasons else None


def _excluded_by(node: Node, siblings: list[Any], update_id: int) -> tuple[int, str] | None:
    """The latest block on the same parent whose general left this update out, and why."""
    for record in reversed(siblings):
        try:
            excluded = node.ctx.get_json(record.metadata_hash).get("excluded", {})
        except (StoreError, ValueError, AttributeError):
            continue
        if str(update_id) in excluded:
            return record.id, str(excluded[str(update_id)])
    return None
