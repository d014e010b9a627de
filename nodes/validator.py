"""The validator daemon: watch the chain, keep rounds moving, propose when drawn, vote once.

Foreground, Ctrl-C safe: its progress is persisted before every transaction (`Voter`), so a
restart neither double-votes nor misses the open candidate. Chain or store hiccups are retried
with backoff and reported as one log line each; the daemon keeps running.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from nodes.general import propose_if_drawn
from tclearn.errors import TCLearnError
from tclearn.fba.propose import ProposalPlan
from tclearn.fba.timeouts import nudge
from tclearn.fba.validate import Evaluator
from tclearn.fba.vote import Voter
from tclearn.node_setup import Node

log = logging.getLogger("tclearn.validator")
MAX_BACKOFF_S = 30.0


def run(
    node: Node,
    evaluator: Evaluator,
    state_path: Path,
    plan: ProposalPlan | None,
    poll_s: float = 2.0,
    once: bool = False,
) -> None:
    """Loops until interrupted (or one pass with `once`). `plan` None: never act as general."""
    voter = Voter(node.ctx, node.account, evaluator, state_path)
    backoff = poll_s
    while True:
        try:
            step(node, voter, plan)
            backoff = poll_s
        except TCLearnError as exc:
            log.warning("%s; retrying in %.0f s", exc, backoff)
            if once:
                raise
            time.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_S)
            continue
        if once:
            return
        time.sleep(poll_s)


def step(node: Node, voter: Voter, plan: ProposalPlan | None) -> None:
    """One pass: close what timed out, propose if drawn, vote on the open candidate."""
    ledger = node.ctx.ledger
    moved = nudge(ledger, node.account)
    if moved:
        log.info("round %s: %s", ledger.current_round().number, moved)
    if plan is not None:
        proposed = propose_if_drawn(node, voter.evaluator, plan)
        if proposed:
            log.info("proposed block %d", proposed)
    block = voter.pending_block()
    if block:
        check = voter.vote(block)
        log.info("voted %s on block %d (%s)", "accept" if check.accept else "reject", block, check.reason)
