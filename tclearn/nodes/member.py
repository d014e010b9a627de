"""A member's one-shot step and its status: train the head on local data, store, register."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tclearn.engine.steps import Submission, submit_update
from tclearn.model.family import State
from tclearn.model.train import TrainConfig, train_local
from tclearn.nodes.site import Node


def submit(node: Node, x: np.ndarray, y: np.ndarray, config: TrainConfig, seed: int) -> Submission:
    """Trains the current head on this member's data with `config` and registers the step."""
    ctx = node.ctx
    min_batch = ctx.ledger.params().min_batch_size

    def train(parent: State) -> State:
        model = ctx.family.module(parent)
        train_local(model, x, y, config, min_batch, seed)
        return model.state_dict()

    return submit_update(ctx, node.account, ctx.ledger.cursor().head, train, len(y), config.batch_size)


@dataclass(frozen=True)
class UpdateFate:
    update_id: int
    parent: int
    block: int | None
    state: str  # waiting, pending, final, rejected, expired, stale

    def as_dict(self) -> dict[str, object]:
        return {"update": self.update_id, "parent": self.parent, "block": self.block, "state": self.state}


def fates(node: Node) -> list[UpdateFate]:
    """What became of each update this member registered: in which block, and that block's state."""
    ledger = node.ctx.ledger
    mine = [u for u in ledger.registered_updates() if u.member == node.account.address]
    blocks = [ledger.block_record(b) for b in range(2, ledger.cursor().block_count + 1)]
    head = ledger.cursor().head
    result = []
    for update in mine:
        holders = [b.id for b in blocks if update.id in b.update_ids]
        if holders:
            state = ledger.block(holders[-1]).state
            result.append(UpdateFate(update.id, update.parent, holders[-1], state.name.lower()))
        else:  # not proposed yet: it waits while its parent is the head, then is stale
            result.append(UpdateFate(update.id, update.parent, None, "waiting" if update.parent == head else "stale"))
    return result
