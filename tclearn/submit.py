"""The member's step: train the head model on local data, store the result, register it on chain."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from eth_account.signers.local import LocalAccount

from tclearn.fba.context import CoalitionContext
from tclearn.model.family import State
from tclearn.model.train import TrainConfig, train_local
from tclearn.model.weights import sha256
from tclearn.store.cid import cid_digest


@dataclass(frozen=True)
class Submission:
    update_id: int
    parent: int
    cid: str
    weights_hash: bytes
    samples: int


def train_on_head(
    ctx: CoalitionContext, x: np.ndarray, y: np.ndarray, config: TrainConfig, seed: int
) -> tuple[int, State]:
    """The head block's id and the weights this member's data trains from it."""
    head = ctx.ledger.cursor().head
    _, state = ctx.block_weights(head)
    model = ctx.family.module(state)
    train_local(model, x, y, config, ctx.ledger.params().min_batch_size, seed)
    return head, model.state_dict()


def register(
    ctx: CoalitionContext, member: LocalAccount, parent: int, state: State, samples: int, batch_size: int
) -> Submission:
    """Stores `state` and records it on chain as this member's training step from `parent`."""
    data = ctx.family.dump(state)
    return record_stored(ctx, member, parent, data, ctx.store.put(data), samples, batch_size)


def record_stored(
    ctx: CoalitionContext, member: LocalAccount, parent: int, data: bytes, cid: str, samples: int, batch_size: int
) -> Submission:
    """Records on chain weights already stored as `cid` (their bytes `data`)."""
    digest = sha256(data)
    update_id = ctx.ledger.register_update(member, parent, digest, cid_digest(cid), samples, batch_size)
    return Submission(update_id, parent, cid, digest, samples)
