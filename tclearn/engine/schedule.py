"""The simulation's schedule: every simulated validator's pass, in turn, until the round closes.

Simulated nodes stand for sites that work in parallel. One machine doing their work one after
another must not use up the coalition's windows, so a simulation's chain clock is held
(`Chain.hold_clock`) and moves only as the schedule says (the time model):

- each transaction mines a block one second after the last;
- the members' training takes `TimeModel.training_s` of chain time per round, however many
  members train and however long this machine takes for them (they train in parallel);
- screening and validation take no chain time (their cost is this machine's, measured by the
  overhead benchmark in wall time);
- when a whole sweep of passes finds nothing to do, the coalition is waiting for a deadline:
  the clock jumps just past the nearest one, and the next sweep expires or redraws.

So a run's rounds, draws and outcomes are the same on a fast machine and a slow one. A refused
transaction (a window closed, a race lost) is an outcome like any other: the next sweep acts on
what the ledger says, and the round goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tclearn.chain.backends import Chain
from tclearn.chain.ledger import Ledger
from tclearn.engine.phases import NO_PHASES, Phases
from tclearn.engine.steps import Outcome, ValidatorRole, keep_moving, validator_pass

MAX_SWEEPS = 64  # a round that has not closed after this many sweeps is reported as stalled


@dataclass(frozen=True)
class TimeModel:
    training_s: int = 60


@dataclass(frozen=True)
class Settled:
    """How a round ended: `closed` (its block is final, rejected or expired), `no-candidate`
    (the drawn general found no update fit to propose; the general is redrawn), or `stalled`."""

    how: str
    block: int | None
    general: str  # the general who proposed the block, or found nothing to propose
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def proposal(self) -> Outcome | None:
        """The proposal that opened the round's block."""
        return next((o for o in reversed(self.outcomes) if o.action == "proposed" and o.block == self.block), None)

    @property
    def excluded(self) -> dict[int, str]:
        last = next((o for o in reversed(self.outcomes) if o.action in ("proposed", "no-candidate")), None)
        return last.excluded if last else {}


def settle_round(
    chain: Chain,
    ledger: Ledger,
    roles: list[ValidatorRole],
    phases: Phases = NO_PHASES,
    helpers: Sequence[Callable[[], Outcome | None]] = (),
) -> Settled:
    """Runs the validators' passes in turn until the current round's block closes, or its
    general has nothing to propose. `helpers` (mode C: the supervisor's pass) run at the start
    of every sweep until they have nothing left to do."""
    start = ledger.current_round().number
    outcomes: list[Outcome] = []
    block: int | None = None
    for _ in range(MAX_SWEEPS):
        acted = False
        for helper in helpers:
            while (helped := helper()) is not None:
                outcomes.append(helped)
                acted = True
        for role in roles:
            outcome = validator_pass(role, phases)
            if outcome is None:
                continue
            outcomes.append(outcome)
            if outcome.action == "waiting":  # on another node: not an action of its own
                continue
            if outcome.action == "gathering":  # the general waits a moment for more updates
                wait_past(chain, int(outcome.detail) - 1)
                acted = True
                continue
            if outcome.action == "proposed":
                block = outcome.block
            if outcome.action == "no-candidate":
                general = ledger.current_round().general
                wait_past(chain, ledger.current_round().deadline)
                moved = keep_moving(ledger, role.voter.account)
                return Settled("no-candidate", None, general, outcomes + ([moved] if moved else []))
            acted = True
            if ledger.current_round().number != start:
                return Settled("closed", block, ledger.block_record(block).general if block else "", outcomes)
        if not acted:
            wait_for_deadline(chain, ledger)
    return Settled("stalled", block, ledger.current_round().general, outcomes)


def wait_for_deadline(chain: Chain, ledger: Ledger) -> None:
    """Moves the held clock just past the deadline the coalition waits for."""
    open_block = ledger.cursor().open
    wait_past(chain, ledger.block(open_block).deadline if open_block else ledger.current_round().deadline)


def wait_past(chain: Chain, deadline: int) -> None:
    chain.advance_time(max(1, deadline + 1 - chain.now()))
