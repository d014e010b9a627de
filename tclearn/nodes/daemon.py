"""The validator daemon (and the general's, kept apart): the engine's pass, every few seconds.

Foreground, Ctrl-C safe: a validator's progress is persisted before every transaction
(`Voter`), so a restart neither double-votes nor misses the open candidate. A refused
transaction is an outcome of the pass, logged; a chain or store that cannot be reached is
logged in one line and retried with backoff, and the daemon keeps running.
"""

from __future__ import annotations

import logging
import time

from tclearn.engine.steps import Outcome, ValidatorRole, validator_pass
from tclearn.errors import TCLearnError

log = logging.getLogger("tclearn.validator")
MAX_BACKOFF_S = 30.0


def run(role: ValidatorRole, poll_s: float = 2.0, once: bool = False) -> None:
    """Loops until interrupted (or one pass with `once`; then a failure is raised)."""
    backoff = poll_s
    while True:
        try:
            report(validator_pass(role))
            backoff = poll_s
        except TCLearnError as exc:
            if once:
                raise
            log.warning("%s; retrying in %.0f s", exc, backoff)
            time.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_S)
            continue
        if once:
            return
        time.sleep(poll_s)


def report(outcome: Outcome | None) -> None:
    """One log line for what the pass did."""
    if outcome is None:
        return
    if outcome.action == "voted" and outcome.check is not None:
        verdict = "accept" if outcome.check.accept else "reject"
        log.info("voted %s on block %d (%s)", verdict, outcome.block, outcome.check.reason)
    elif outcome.action == "proposed":
        left_out = f"; left out {outcome.excluded}" if outcome.excluded else ""
        log.info("proposed block %d%s", outcome.block, left_out)
    elif outcome.action == "refused":
        log.info("the ledger refused: %s", outcome.detail)
    elif outcome.action in ("expired", "redrawn"):
        log.info("round moved on: %s", outcome.action)
