"""A member's one-shot step and its status: train the head on local data, store, register."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tclearn.model.train import TrainConfig
from tclearn.node_setup import Node
from tclearn.submit import Submission, register, train_on_head


def submit(node: Node, x: np.ndarray, y: np.ndarray, config: TrainConfig, seed: int) -> Submission:
    parent, state = train_on_head(node.ctx, x, y, config, seed)
    return register(node.ctx, node.account, parent, state, len(y), config.batch_size)


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
