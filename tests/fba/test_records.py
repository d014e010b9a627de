"""Members' records, on a real in-process ledger with a tiny model: strikes are counted per
closed round of the lineage, and a member over the limit is suspended."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from tclearn.chain.backends import connect
from tclearn.chain.deploy import Genesis
from tclearn.chain.ephemeral import EphemeralCoalition, ephemeral_coalition
from tclearn.chain.ledger import LedgerParams
from tclearn.engine.steps import submit_update
from tclearn.fba import records
from tclearn.fba.context import CoalitionContext
from tclearn.fba.draw import commitment
from tclearn.fba.integrity import read_round
from tclearn.model.architectures import ArchitectureSpec, build
from tclearn.model.family import ModelFamily, State
from tclearn.model.weights import serialize, sha256
from tclearn.store import open_store
from tclearn.store.cid import cid_digest

FAMILY = ModelFamily(ArchitectureSpec("mlp", (2,), 2, hidden=4))


class Ledgered:
    """A one-validator coalition whose blocks are proposed and voted by hand."""

    def __init__(self, coalition: EphemeralCoalition, ctx: CoalitionContext) -> None:
        self.coalition, self.ctx, self.secret = coalition, ctx, None

    def step(self, member: int, parent: int, change: float) -> int:
        def train(state: State) -> State:
            return {k: v + change * torch.ones_like(v) for k, v in state.items()}

        done = submit_update(self.ctx, self.coalition.members[member], parent, train, 64, 16)
        return done.update_id

    def replay(self, member: int, parent: int) -> int:
        data, _ = self.ctx.block_weights(1)  # the genesis model, resubmitted
        return self.ctx.ledger.register_update(
            self.coalition.members[member], parent, sha256(data), cid_digest(self.ctx.store.put(data)), 64, 16
        )

    def accept(self, parent: int, update_id: int) -> int:
        ledger, validator = self.ctx.ledger, self.coalition.validators[0]
        update = ledger.update_record(update_id)
        block = ledger.propose(
            validator,
            parent,
            update.weights_hash,
            update.cid_digest,
            [update_id],
            ledger.current_round().number,
            b"\1" * 32,
        )
        reveal = self.secret or b"\0" * 32
        self.secret = bytes([block]) * 32
        ledger.vote(validator, block, True, b"\0" * 32, reveal, commitment(validator.address, self.secret))
        return block


@pytest.fixture
def ledgered(tmp_path: Path) -> Iterator[Ledgered]:
    chain = connect("inprocess:memory")
    store = open_store("local", tmp_path)
    weights = serialize(build(FAMILY.spec, seed=0))
    genesis = Genesis(sha256(weights), cid_digest(store.put(weights)), b"\2" * 32)
    coalition = ephemeral_coalition(chain, LedgerParams("A", 16, 300, 600, 3600), genesis, 1, 2, seed=0)
    yield Ledgered(coalition, CoalitionContext(coalition.ledger, store, FAMILY))
    chain.close()


def test_a_member_with_three_replays_in_the_window_is_suspended_and_the_record_ages_out(
    ledgered: Ledgered, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(records, "STRIKE_WINDOW", 4)
    ctx, cheat = ledgered.ctx, ledgered.coalition.members[0].address
    head = 1
    for _ in range(3):  # member 0 replays the genesis model every round; member 1 trains
        ledgered.replay(0, head)
        head = ledgered.accept(head, ledgered.step(1, head, 0.01))
    assert records.strikes(ctx, cheat, head) == 3
    assert records.strikes(ctx, ledgered.coalition.members[1].address, head) == 0

    honest_now = ledgered.step(0, head, 0.01)
    why, state = records.check_update(ctx, ctx.ledger.update_record(honest_now), read_round(ctx, head, []))
    assert why == "suspended" and state is not None, "an honest-looking update of a suspended member"

    head = ledgered.accept(head, ledgered.step(1, head, 0.01))  # the round closes without its update
    head = ledgered.accept(head, ledgered.step(1, head, 0.01))
    assert records.strikes(ctx, cheat, head) == 2, "the oldest strike left the window of 4 rounds"
    again = ledgered.step(0, head, 0.01)
    assert records.check_update(ctx, ctx.ledger.update_record(again), read_round(ctx, head, []))[0] is None


@pytest.mark.slow
def test_honest_members_in_a_small_coalition_never_get_a_strike(tmp_path: Path) -> None:
    """Two members with unequal, non-IID shards: every round has fewer updates than a typical
    step needs. Against the one member the coalition happened to accept, the other was an
    outlier round after round; judged on a history where each member counts once, neither is."""
    from tclearn.simulate import Simulation, SimulationConfig

    chain = connect("inprocess:memory")
    try:
        config = SimulationConfig(members=2, validators=4, rounds=20, alpha=0.3)
        sim = Simulation(config, chain, open_store("local", tmp_path))
        result = sim.run()
        refused = [(r.round, m, why) for r in result.history for m, why in r.excluded.items()]
        assert not [x for x in refused if x[2] in records.STRIKE_REASONS], refused
        head = sim.ctx.ledger.cursor().head
        assert all(records.strikes(sim.ctx, m.address, head) == 0 for m in sim.coalition.members)
        assert result.accepted >= 15
    finally:
        chain.close()
