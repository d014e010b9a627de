"""A whole coalition on one machine: members train, the drawn general proposes, validators vote.

Runs on any chain and store URL (by default the in-process EVM and a temporary embedded store);
accounts are fresh and held in memory. Attackers are the first `attackers` members; every update
they register is tracked, so the result says how many reached a final block.
"""

from __future__ import annotations

import random
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tclearn.attacks import AttackInputs, poisoned_update
from tclearn.chain.backends import Chain, connect
from tclearn.chain.deploy import Genesis
from tclearn.chain.ephemeral import EphemeralCoalition, ephemeral_coalition
from tclearn.chain.ledger import BlockState, LedgerParams
from tclearn.data.datasets import Dataset, load_dataset
from tclearn.data.splits import CoalitionSplit, split_coalition
from tclearn.fba.context import CoalitionContext
from tclearn.fba.policy import Tolerance
from tclearn.fba.propose import ProposalPlan, build_candidate, propose
from tclearn.fba.timeouts import nudge
from tclearn.fba.validate import Evaluator
from tclearn.fba.vote import Voter
from tclearn.model.architectures import ArchitectureSpec, build
from tclearn.model.family import ModelFamily, State
from tclearn.model.genesis import genesis_metadata
from tclearn.model.train import TrainConfig, evaluate, train_local
from tclearn.model.weights import serialize, sha256
from tclearn.store.base import ContentStore, open_store
from tclearn.store.cid import cid_digest
from tclearn.submit import register


@dataclass(frozen=True)
class SimulationConfig:
    members: int = 6
    validators: int = 4
    rounds: int = 10
    mode: str = "A"
    learning: str = "fedavg"
    dataset: str = "breast-cancer"
    alpha: float | None = None
    attack: str | None = None
    attackers: int = 0
    aggregator: str = "mean"
    fba: bool = True
    seed: int = 0
    local_epochs: int = 2
    batch_size: int = 16
    learning_rate: float = 0.05
    min_batch_size: int = 16
    hidden: int = 32  # the architecture's hidden width (model size)
    tolerance: Tolerance = field(default_factory=Tolerance)

    @property
    def train_config(self) -> TrainConfig:
        return TrainConfig(epochs=self.local_epochs, batch_size=self.batch_size, learning_rate=self.learning_rate)


@dataclass(frozen=True)
class RoundRecord:
    round: int
    block: int | None
    general: str
    contributors: list[int]  # member indices whose updates the candidate holds
    attackers_in: int
    accepts: int
    rejects: int
    outcome: str  # final, rejected, expired, no-candidate
    global_accuracy: float
    excluded: dict[int, str]


@dataclass
class SimulationResult:
    rounds: int
    accepted: int
    rejected: int
    head: int
    final_accuracy: float
    centralized_accuracy: float
    attacks_proposed: int
    attacks_accepted: int
    history: list[RoundRecord]

    def summary(self) -> dict[str, object]:
        """The `tclearn simulate --json` object."""
        return {
            "rounds": self.rounds,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "head": str(self.head),
            "final_accuracy": round(self.final_accuracy, 4),
            "centralized_accuracy": round(self.centralized_accuracy, 4),
            "attacks_proposed": self.attacks_proposed,
            "attacks_accepted": self.attacks_accepted,
        }


def default_architecture(dataset: Dataset, hidden: int = 32) -> ArchitectureSpec:
    name = "mlp" if len(dataset.input_shape) == 1 else "cnn"
    return ArchitectureSpec(name, dataset.input_shape, dataset.num_classes, hidden)


class Simulation:
    """One coalition run; `run()` plays the rounds."""

    def __init__(self, config: SimulationConfig, chain: Chain, store: ContentStore):
        self.config = config
        self.dataset = load_dataset(config.dataset)
        self.split: CoalitionSplit = split_coalition(
            self.dataset, config.members, config.validators, config.seed, alpha=config.alpha
        )
        self.family = ModelFamily(default_architecture(self.dataset, config.hidden))
        genesis_model = build(self.family.spec, seed=config.seed)
        weights = serialize(genesis_model)
        weights_cid = store.put(weights)
        metadata_cid = store.put(genesis_metadata(self.family.spec, config.seed))
        params = LedgerParams(config.mode, config.min_batch_size, 300, 600, 86_400)
        genesis = Genesis(sha256(weights), cid_digest(weights_cid), cid_digest(metadata_cid))
        self.coalition: EphemeralCoalition = ephemeral_coalition(
            chain, params, genesis, config.validators, config.members, seed=config.seed
        )
        self.ctx = CoalitionContext(self.coalition.ledger, store, self.family)
        self.evaluators = {
            v.address: Evaluator(
                self.family,
                self.dataset.x[self.split.global_test],
                self.dataset.y[self.split.global_test],
                self.dataset.x[local],
                self.dataset.y[local],
                config.tolerance,
            )
            for v, local in zip(self.coalition.validators, self.split.local_tests, strict=True)
        }
        self.voters = [
            Voter(
                self.ctx,
                v,
                self.evaluators[v.address],
                accept_all=not config.fba,
                secret_source=random.Random(f"{config.seed}/{v.address}"),
            )
            for v in self.coalition.validators
        ]
        self.plan = ProposalPlan(
            learning=config.learning,
            rule=config.aggregator,
            params=_rule_params(config),
            screen=config.fba,
        )
        self.attack_updates: set[int] = set()
        self.member_of_update: dict[int, int] = {}

    # ------------------------------------------------------------------ the rounds

    def run(self, on_round: Callable[[RoundRecord], None] | None = None) -> SimulationResult:
        history = []
        for number in range(1, self.config.rounds + 1):
            record = self.play_round(number)
            history.append(record)
            if on_round is not None:
                on_round(record)
        head = self.ctx.ledger.cursor().head
        final_blocks = [b for b in self.ctx.ledger.lineage(head) if b != 1]
        in_head = {u for b in final_blocks for u in self.ctx.ledger.block_record(b).update_ids}
        return SimulationResult(
            rounds=self.config.rounds,
            accepted=sum(r.outcome == "final" for r in history),
            rejected=sum(r.outcome in ("rejected", "expired") for r in history),
            head=head,
            final_accuracy=self.global_accuracy(self.ctx.block_weights(head)[1]),
            centralized_accuracy=self.centralized_accuracy(),
            attacks_proposed=len(self.attack_updates),
            attacks_accepted=len(self.attack_updates & in_head),
            history=history,
        )

    def play_round(self, number: int) -> RoundRecord:
        ledger = self.ctx.ledger
        head = ledger.cursor().head
        _, parent = self.ctx.block_weights(head)
        active = [number % self.config.members] if self.config.learning == "sequential" else range(self.config.members)
        for index in active:
            self.submit(index, head, parent, seed=self.config.seed * 1000 + number * 50 + index)
        general = self.coalition.general()
        candidate = build_candidate(self.ctx, self.evaluators[general.address], self.plan)
        if candidate is None:
            self._skip_round()
            return RoundRecord(number, None, general.address, [], 0, 0, 0, "no-candidate", self._head_accuracy(), {})
        block = propose(self.ctx, general, candidate)
        for voter in self.voters:
            if ledger.block(block).state is not BlockState.PENDING:
                break
            voter.vote(block)
        info = ledger.block(block)
        if info.state is BlockState.PENDING:
            self.coalition.chain.advance_time(ledger.params().vote_timeout + 1)
            nudge(ledger, self.coalition.operator)
            info = ledger.block(block)
        contributors = [self.member_of_update[u] for u in candidate.update_ids]
        return RoundRecord(
            round=number,
            block=block,
            general=general.address,
            contributors=contributors,
            attackers_in=sum(u in self.attack_updates for u in candidate.update_ids),
            accepts=info.accepts,
            rejects=info.rejects,
            outcome={BlockState.FINAL: "final", BlockState.REJECTED: "rejected"}.get(info.state, "expired"),
            global_accuracy=self._head_accuracy(),
            excluded=candidate.excluded,
        )

    def submit(self, index: int, head: int, parent: State, seed: int) -> int:
        """Member `index` trains from the head (or poisons, if it is an attacker) and registers."""
        state, attacking = self.member_step(index, parent, seed)
        member = self.coalition.members[index]
        submission = register(self.ctx, member, head, state, len(self.split.members[index]), self.config.batch_size)
        self.member_of_update[submission.update_id] = index
        if attacking:
            self.attack_updates.add(submission.update_id)
        return submission.update_id

    def member_step(self, index: int, parent: State, seed: int) -> tuple[State, bool]:
        """What member `index` would submit from `parent`, and whether it is an attack."""
        shard = self.split.members[index]
        x, y = self.dataset.x[shard], self.dataset.y[shard]

        def train(features: np.ndarray, labels: np.ndarray) -> State:
            model = self.family.module(parent)
            train_local(model, features, labels, self.config.train_config, self.config.min_batch_size, seed)
            return model.state_dict()

        if self.config.attack is None or index >= self.config.attackers:
            return train(x, y), False
        ancestor = self.ctx.block_weights(1)[1]
        inputs = AttackInputs(parent, train, x, y, self.dataset.num_classes, ancestor, seed)
        return poisoned_update(self.config.attack, inputs), True

    # ------------------------------------------------------------------ measures

    def global_accuracy(self, state: State) -> float:
        model = self.family.module(state)
        g = self.split.global_test
        return evaluate(model, self.dataset.x[g], self.dataset.y[g], self.dataset.num_classes).accuracy

    def centralized_accuracy(self) -> float:
        """The same architecture trained on the union of the members' data, as many epochs as
        the coalition's rounds gave each member's data (in sequential learning a member trains
        once every `members` blocks)."""
        model = build(self.family.spec, seed=self.config.seed)
        train = self.split.train
        turns = self.config.rounds
        if self.config.learning == "sequential":
            turns = max(1, turns // self.config.members)
        epochs = turns * self.config.local_epochs
        recipe = self.config.train_config
        config = TrainConfig(epochs=epochs, batch_size=recipe.batch_size, learning_rate=recipe.learning_rate)
        train_local(model, self.dataset.x[train], self.dataset.y[train], config, self.config.min_batch_size, 0)
        return self.global_accuracy(model.state_dict())

    def _head_accuracy(self) -> float:
        return self.global_accuracy(self.ctx.block_weights(self.ctx.ledger.cursor().head)[1])

    def _skip_round(self) -> None:
        """No fit update: let the proposal window pass and draw a new general."""
        ledger = self.ctx.ledger
        self.coalition.chain.advance_time(ledger.params().proposal_timeout + 1)
        nudge(ledger, self.coalition.operator)


def run_simulation(
    config: SimulationConfig,
    chain_url: str = "inprocess:memory",
    store_url: str | None = None,
    on_round: Callable[[RoundRecord], None] | None = None,
) -> SimulationResult:
    """Runs `config` against the chain and store named by the URLs (a temporary local store by default)."""
    with tempfile.TemporaryDirectory(prefix="tclearn-sim-") as scratch:
        store = open_store(store_url or "local", Path(scratch))
        chain = connect(chain_url)
        try:
            return Simulation(config, chain, store).run(on_round)
        finally:
            chain.close()


def _rule_params(config: SimulationConfig) -> dict[str, object]:
    expected_bad = max(1, config.attackers)
    if config.aggregator == "trimmed-mean":
        return {"beta": min(0.4, expected_bad / config.members)}
    if config.aggregator in ("krum", "multi-krum"):
        return {"num_malicious": expected_bad}
    return {}
