"""The node daemons: the validator's (and the general's, kept apart) and, in mode C, the
supervisor's: the engine's pass, every few seconds.

A daemon runs for months on networks where the chain, the store or the node itself restarts,
so nothing but a stop request ends it:

- a chain or store that cannot be reached (`ChainError`, `StoreError`), at start or later, is
  logged in one line and retried with backoff; after any error the validator's recorded
  progress is reconciled with the chain before it acts again (`Voter.reconcile`);
- a transaction the ledger refuses is an outcome of the pass, logged, not an error;
- an error nobody expected is a bug: logged once with its traceback, then retried like an
  outage, so one bad answer cannot take a validator's vote out of the coalition;
- SIGTERM stops it as Ctrl-C does. A validator's progress is persisted before every
  transaction, so a stop or a kill at any moment neither double-votes nor loses its secret.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Protocol

from tclearn.engine.steps import Outcome
from tclearn.errors import ChainError, ConfigError, TCLearnError
from tclearn.store.base import StoreError

log = logging.getLogger("tclearn.validator")
MAX_BACKOFF_S = 30.0
TRANSIENT = (ChainError, StoreError)
# Set by SIGTERM. The handler also raises KeyboardInterrupt, but Python drops an exception
# raised while a destructor runs ("Exception ignored in ... __del__"): a mode-C validator stopped
# that way kept retrying a dead chain for minutes. Every wait and every pass checks this too.
_stop = threading.Event()


class Passes(Protocol):
    """What a daemon runs: one pass at a time, and how to recover after an error. Its `kind`
    names its log (`tclearn.validator`, `tclearn.supervisor`)."""

    @property
    def address(self) -> str: ...

    @property
    def kind(self) -> str: ...

    def pass_(self) -> Outcome | None: ...

    def recover(self) -> None: ...


class Backoff:
    """Waits that double from the poll interval up to MAX_BACKOFF_S, reset by a success."""

    def __init__(self, poll_s: float, logger: logging.Logger = log):
        self.poll_s = poll_s
        self.next_s = poll_s
        self.log = logger

    def failed(self, reason: str) -> None:
        self.log.warning("%s; retrying in %.0f s", reason, self.next_s)
        pause(self.next_s)
        self.next_s = min(self.next_s * 2, MAX_BACKOFF_S)

    def succeeded(self) -> None:
        self.next_s = self.poll_s


def serve(open_role: Callable[[], Passes], close: Callable[[], None], poll_s: float = 2.0) -> None:
    """Opens the node (retrying while its chain or store is down) and runs its passes until
    SIGTERM or Ctrl-C; `close` releases what `open_role` opened, on the way out."""
    _stop.clear()
    previous = signal.signal(signal.SIGTERM, _interrupt)
    backoff = Backoff(poll_s)
    try:
        while True:
            try:
                role = open_role()
                break
            except ConfigError:
                raise  # a node misconfigured stays misconfigured: say so and stop
            except TRANSIENT as exc:
                backoff.failed(f"cannot start yet: {exc}")
        logging.getLogger(f"tclearn.{role.kind}").info("started as %s", role.address)
        run(role, poll_s)
    finally:
        close()
        signal.signal(signal.SIGTERM, previous)


def run(role: Passes, poll_s: float = 2.0, once: bool = False) -> None:
    """Loops until interrupted (or one pass with `once`; then a failure is raised)."""
    logger = logging.getLogger(f"tclearn.{role.kind}")
    backoff = Backoff(poll_s, logger)
    unsettled = False
    reported: set[str] = set()
    while True:
        if _stop.is_set():
            raise KeyboardInterrupt
        try:
            if unsettled:
                role.recover()
                unsettled = False
            report(role.pass_(), logger)
            backoff.succeeded()
        except TCLearnError as exc:
            if once:
                raise
            unsettled = True
            backoff.failed(str(exc))
            continue
        except Exception as exc:
            if once:
                raise
            unsettled = True
            kind = type(exc).__name__
            if kind not in reported:  # a bug: its traceback once, then one line a time
                reported.add(kind)
                logger.exception("unexpected %s", kind)
            backoff.failed(f"unexpected {kind}: {exc}")
            continue
        if once:
            return
        pause(poll_s)


def pause(seconds: float) -> None:
    """Sleeps, or stops the daemon at once when a stop was requested before or during it."""
    if _stop.wait(seconds):
        raise KeyboardInterrupt


def report(outcome: Outcome | None, log: logging.Logger = log) -> None:
    """One log line for what the pass did (for a general that proposed nothing, one per update)."""
    if outcome is None:
        return
    if outcome.action == "voted" and outcome.check is not None:
        verdict = "accept" if outcome.check.accept else "reject"
        log.info("voted %s on block %d (%s)", verdict, outcome.block, outcome.check.reason)
    elif outcome.action == "proposed":
        left_out = f"; left out {outcome.excluded}" if outcome.excluded else ""
        log.info("proposed block %d%s", outcome.block, left_out)
    elif outcome.action == "no-candidate" and outcome.detail != "unchanged":
        if not outcome.excluded:
            log.info("drawn as general: no update to propose yet")
        for update, reason in sorted(outcome.excluded.items()):
            log.info("drawn as general: update %d left out (%s)", update, reason)
    elif outcome.action == "refused" and outcome.check is not None and "BlockNotPending" in outcome.detail:
        log.info("block %d closed before this vote landed (quorum reached without it)", outcome.block)
    elif outcome.action == "refused":
        log.info("the ledger refused: %s", outcome.detail)
    elif outcome.action == "history-granted":
        log.info("granted the earlier models' keys to %s (joined since)", outcome.detail)
    elif outcome.action in ("expired", "redrawn"):
        log.info("round moved on: %s", outcome.action)
    elif outcome.action in ("context-issued", "copies-issued", "decrypted", "requested"):
        where = f" (block {outcome.block})" if outcome.block else ""
        log.info("%s%s: %s", outcome.action, where, outcome.detail)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    _stop.set()
    raise KeyboardInterrupt
