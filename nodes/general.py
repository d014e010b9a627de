"""The general's duty: when the draw names this validator and no candidate is open, propose one."""

from __future__ import annotations

import logging
import time

from tclearn.errors import TCLearnError
from tclearn.fba.propose import ProposalPlan, build_candidate, propose
from tclearn.fba.validate import Evaluator
from tclearn.node_setup import Node

log = logging.getLogger("tclearn.general")


def propose_if_drawn(node: Node, evaluator: Evaluator, plan: ProposalPlan) -> int | None:
    """Proposes the round's candidate if this node is the drawn general; returns the block id."""
    ledger = node.ctx.ledger
    if ledger.cursor().open or ledger.current_round().general != node.account.address:
        return None
    if ledger.chain.now() > ledger.current_round().deadline:
        return None  # too late: the round is about to be redrawn
    candidate = build_candidate(node.ctx, evaluator, plan)
    if candidate is None:
        return None
    if candidate.excluded:
        log.info("left out updates %s", candidate.excluded)
    return propose(node.ctx, node.account, candidate)


def run(node: Node, evaluator: Evaluator, plan: ProposalPlan, poll_s: float = 2.0, once: bool = False) -> None:
    """Loops until interrupted, proposing whenever drawn (for a general kept apart from voting)."""
    while True:
        try:
            block = propose_if_drawn(node, evaluator, plan)
            if block:
                log.info("proposed block %d", block)
        except TCLearnError as exc:
            log.warning("%s; retrying", exc)
            if once:
                raise
        if once:
            return
        time.sleep(poll_s)
