"""A whole coalition on one machine: members train, the drawn general proposes, validators vote.

Runs on any chain and store URL (by default the in-process EVM and a temporary embedded store);
accounts are fresh and held in memory. Attackers are the first `attackers` members; every update
they register is tracked, so the result says how many reached a final block.
"""

from __future__ import annotations

import random
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from eth_account.signers.local import LocalAccount

from tclearn.attacks import AttackInputs, backdoor_target, poisoned_update, with_trigger
from tclearn.chain.backends import Chain, connect
from tclearn.chain.deploy import Genesis
from tclearn.chain.ephemeral import EphemeralCoalition, ephemeral_coalition
from tclearn.chain.ledger import BlockState, Ledger, LedgerParams, ProposalState
from tclearn.data.datasets import Dataset, load_dataset
from tclearn.data.splits import CoalitionSplit, split_coalition, stratified_subset
from tclearn.engine.phases import NO_PHASES, Phases
from tclearn.engine.schedule import Settled, TimeModel, settle_round
from tclearn.engine.steps import General, ValidatorRole, submit_update
from tclearn.errors import ChainError, ConfigError
from tclearn.fba.context import CoalitionContext
from tclearn.fba.policy import Tolerance
from tclearn.fba.propose import Screened, build_candidate
from tclearn.fba.strategy import Careless, Strategy, declared_step
from tclearn.fba.viability import Evaluator
from tclearn.fba.vote import Voter
from tclearn.model.architectures import ArchitectureSpec, build
from tclearn.model.family import ModelFamily, State
from tclearn.model.genesis import genesis_metadata
from tclearn.model.train import TrainConfig, evaluate, train_local
from tclearn.model.weights import serialize, sha256
from tclearn.privacy.envelope import SealError
from tclearn.privacy.keys import DEFAULT_KEM, ParticipantKey
from tclearn.privacy.vault import Vault, publish_key
from tclearn.rules import CoalitionRules, TrainingRecipe
from tclearn.store import open_store
from tclearn.store.base import ContentStore
from tclearn.store.cid import cid_digest


@dataclass(frozen=True)
class SimulationConfig:
    members: int = 6
    validators: int = 4
    rounds: int = 10
    mode: str = "A"
    learning: str = "fedavg"
    dataset: str = "breast-cancer"
    alpha: float | None = None
    subset: int | None = None  # a stratified subset of the dataset, fixed by the seed
    attack: str | None = None
    attackers: int = 0
    rogue_generals: int = 0  # validators that, when drawn, propose every update unscreened
    aggregator: str = "mean"
    fba: bool = True
    seed: int = 0
    local_epochs: int = 2
    batch_size: int = 16
    learning_rate: float = 0.05
    min_batch_size: int = 16
    hidden: int = 32  # the architecture's hidden width (model size)
    architecture: str | None = None  # default: an MLP for tables, a CNN for images
    tolerance: Tolerance = field(default_factory=Tolerance)
    time_model: TimeModel = field(default_factory=TimeModel)
    # Mode B: at the start of this round the validators vote the last honest member out.
    remove_member_at: int | None = None
    # Mode B: at the start of this round the validators vote a new member in (it only reads).
    join_member_at: int | None = None
    joiners_read_history: bool = False  # mode B: the joiner is granted the earlier models too
    kem: str | None = None  # mode B's KEM (default: the rules' default, the hybrid)
    # Mode C: from this round on the last member's node is dead: it holds its copy of the head
    # and never submits (the others' masks are corrected for it, `tclearn.he.member`).
    drop_member_at: int | None = None

    @property
    def strategy(self) -> Strategy:
        return self.rules().strategy()

    def rules(self, architecture: ArchitectureSpec | None = None) -> CoalitionRules:
        """The coalition's rules this run deploys with (every simulated node follows them)."""
        return CoalitionRules(
            architecture=architecture.as_dict() if architecture else {},
            mode=self.mode,
            learning=self.learning,
            aggregator=self.aggregator,
            aggregator_params=_rule_params(self),
            screening=self.fba,
            tolerance=self.tolerance,
            min_batch_size=self.min_batch_size,
            training=self.recipe,
            kem=self.kem,
            joiners_read_history=self.joiners_read_history,
        )

    @property
    def recipe(self) -> TrainingRecipe:
        return TrainingRecipe(self.local_epochs, self.batch_size, self.learning_rate)

    @property
    def train_config(self) -> TrainConfig:
        return self.recipe.config()


_CENTRALIZED: dict[SimulationConfig, float] = {}  # see `Simulation.centralized_accuracy`
OUTCOMES = {BlockState.FINAL: "final", BlockState.REJECTED: "rejected", BlockState.EXPIRED: "expired"}


@dataclass(frozen=True)
class RoundRecord:
    round: int
    block: int | None
    general: str
    contributors: list[int]  # member indices whose updates the candidate holds
    attackers_in: int
    accepts: int
    rejects: int
    outcome: str  # final, rejected, expired, no-candidate, stalled
    global_accuracy: float
    excluded: dict[int, str]  # member index -> why its update was left out
    step: float = 1.0  # of the way from the parent to the updates' aggregate (`SERVER_STEPS`)


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
    honest_proposed: int
    honest_accepted: int
    history: list[RoundRecord]
    backdoor_success: float | None = None  # with the backdoor attack: the trigger's success on G
    mode: str = "A"
    removal: ReadAccess | None = None  # mode B, `remove_member_at`: what the removed member can read
    joining: ReadAccess | None = None  # mode B, `join_member_at`: what the new member can read
    plaintext_accuracy: float | None = None  # mode C: the same head trained in clear (`tclearn.he`)

    def summary(self) -> dict[str, object]:
        """The `tclearn simulate --json` object."""
        return (
            {
                "rounds": self.rounds,
                "accepted": self.accepted,
                "rejected": self.rejected,
                "head": str(self.head),
                "final_accuracy": round(self.final_accuracy, 4),
                "centralized_accuracy": round(self.centralized_accuracy, 4),
                "attacks_proposed": self.attacks_proposed,
                "attacks_accepted": self.attacks_accepted,
                "honest_proposed": self.honest_proposed,
                "honest_accepted": self.honest_accepted,
            }
            | ({} if self.backdoor_success is None else {"backdoor_success": round(self.backdoor_success, 4)})
            | ({"mode": self.mode})
            | ({} if self.plaintext_accuracy is None else {"plaintext_accuracy": round(self.plaintext_accuracy, 4)})
            | ({} if self.removal is None else {"removed_member": asdict(self.removal)})
            | ({} if self.joining is None else {"joined_member": asdict(self.joining)})
        )


@dataclass(frozen=True)
class ReadAccess:
    """A member voted out of (or into) a mode-B run, and which final models its key opens."""

    account: str
    round: int
    models_before: int  # final models (genesis excluded) sealed before the vote
    read_before: int  # of those, how many its key opens
    models_after: int  # final models sealed after the vote
    read_after: int  # of those, how many its key opens


def default_architecture(dataset: Dataset, hidden: int = 32, name: str | None = None) -> ArchitectureSpec:
    name = name or ("mlp" if len(dataset.input_shape) == 1 else "cnn")
    return ArchitectureSpec(name, dataset.input_shape, dataset.num_classes, hidden)


class Simulation:
    """One coalition run; `run()` plays the rounds."""

    def __init__(self, config: SimulationConfig, chain: Chain, store: ContentStore):
        self.config = config
        dataset = load_dataset(config.dataset)
        self.dataset = dataset if config.subset is None else stratified_subset(dataset, config.subset, config.seed)
        self.split: CoalitionSplit = split_coalition(
            self.dataset, config.members, config.validators, config.seed, alpha=config.alpha
        )
        self.family = ModelFamily(default_architecture(self.dataset, config.hidden, config.architecture))
        genesis_model = build(self.family.spec, seed=config.seed)
        weights = serialize(genesis_model)
        weights_cid = store.put(weights)
        metadata_cid = store.put(genesis_metadata(self.family.spec, config.seed))
        self.rules = config.rules(self.family.spec)
        store.put(self.rules.document())
        params = LedgerParams(config.mode, config.min_batch_size, 300, 600, 86_400, self.rules.digest())
        genesis = Genesis(sha256(weights), cid_digest(weights_cid), cid_digest(metadata_cid))
        self.coalition: EphemeralCoalition = ephemeral_coalition(
            chain, params, genesis, config.validators, config.members, seed=config.seed
        )
        self.chain = chain
        chain.hold_clock()  # chain time follows the schedule (tclearn.engine.schedule)
        self.ctx = CoalitionContext(self.coalition.ledger, store, self.family)
        self.contexts: dict[str, CoalitionContext] = {}  # mode B: each participant's own keys
        if self.rules.mode == "B":
            self.contexts = self._sealing_contexts()
            self.ctx = self.contexts[self.coalition.validators[0].address]  # the harness reads as one
        self.removed: tuple[int, int, int] | None = None  # member index, round, blocks before
        self.joined: tuple[int, int] | None = None  # round, blocks before
        self.evaluators = {
            v.address: Evaluator(
                self.family,
                self.dataset.x[self.split.global_test],
                self.dataset.y[self.split.global_test],
                self.dataset.x[local],
                self.dataset.y[local],
                self.rules.tolerance,
            )
            for v, local in zip(self.coalition.validators, self.split.local_tests, strict=True)
        }
        self.voters = [
            Voter(
                self.context_of(v.address),
                v,
                self.evaluators[v.address],
                self.rules.strategy(),
                secret_source=random.Random(f"{config.seed}/{v.address}"),
            )
            for v in self.coalition.validators
        ]
        gather_s = config.rules().gather_s
        rogue = {v.address for v in self.coalition.validators[: config.rogue_generals]}
        self.roles = [
            ValidatorRole(
                voter,
                General(voter.account, gather_s, builder=rogue_general if voter.account.address in rogue else None),
            )
            for voter in self.voters
        ]
        self.phases: Phases = NO_PHASES
        self.attack_updates: set[int] = set()
        self.member_of_update: dict[int, int] = {}

    # ------------------------------------------------------------------ the rounds

    def run(self, on_round: Callable[[RoundRecord], None] | None = None) -> SimulationResult:
        history = play_rounds(self.play_round, self.config.rounds, on_round)
        head = self.ctx.ledger.cursor().head
        final_blocks = [b for b in self.ctx.ledger.lineage(head) if b != 1]
        head_state = self.ctx.block_weights(head)[1]
        return SimulationResult(
            **tally(self.ctx.ledger, history, set(self.member_of_update), self.attack_updates),
            final_accuracy=self.global_accuracy(head_state),
            centralized_accuracy=self.centralized_accuracy(),
            history=history,
            backdoor_success=self.backdoor_success(head_state) if self.config.attack == "backdoor" else None,
            mode=self.rules.mode,
            removal=self.removal(final_blocks),
            joining=self.joining(final_blocks),
        )

    # ------------------------------------------------------------------ mode B

    def _sealing_contexts(self) -> dict[str, CoalitionContext]:
        """Each participant's key pair, its public key registered on chain, and its context."""
        ledger, store = self.ctx.ledger, self.ctx.store
        contexts = {}
        for account in [*self.coalition.validators, *self.coalition.members]:
            key = ParticipantKey.generate(self.rules.kem or DEFAULT_KEM)
            publish_key(ledger, store, account, key)
            contexts[account.address] = self._context_with_key(account, key)
        return contexts

    def _context_with_key(self, account: LocalAccount, key: ParticipantKey) -> CoalitionContext:
        vault = Vault(self.ctx.ledger, self.ctx.store, account.address, key, self.rules.joiners_read_history)
        return replace(self.ctx, vault=vault)

    def context_of(self, address: str) -> CoalitionContext:
        return self.contexts.get(address, self.ctx)

    def remove_last_honest_member(self, number: int) -> None:
        """The validators vote the last member (never an attacker) out, 2/3 deciding."""
        index = self.config.members - 1
        self._vote_member(self.coalition.members[index].address, grant=False)
        self.removed = (index, number, self.ctx.ledger.cursor().block_count)

    def _vote_member(self, account: str, grant: bool) -> None:
        """The validators vote `account`'s member role in or out, until 2/3 decide."""
        ledger, validators = self.ctx.ledger, self.coalition.validators
        proposal = ledger.propose_membership(validators[0], account, "member", grant)
        for validator in validators[1:]:
            if ledger.membership_state(proposal) is not ProposalState.PENDING:
                break
            ledger.vote_membership(validator, proposal, True)
        if ledger.membership_state(proposal) is not ProposalState.EXECUTED:
            raise ChainError(f"the validators' vote did not {'admit' if grant else 'remove'} member {account}")

    def join_new_member(self, number: int) -> None:
        """The validators vote a new member in (the coalition's outsider); it registers its key."""
        ledger, newcomer = self.ctx.ledger, self.coalition.outsider
        self._vote_member(newcomer.address, grant=True)
        key = ParticipantKey.generate(self.rules.kem or DEFAULT_KEM)
        publish_key(ledger, self.ctx.store, newcomer, key)
        self.contexts[newcomer.address] = self._context_with_key(newcomer, key)
        self.joined = (number, ledger.cursor().block_count)

    def removal(self, final_blocks: list[int]) -> ReadAccess | None:
        """What the removed member's own key opens among the final models, before and after."""
        if self.removed is None:
            return None
        index, number, last_before = self.removed
        return self._read_access(self.coalition.members[index].address, number, last_before, final_blocks)

    def joining(self, final_blocks: list[int]) -> ReadAccess | None:
        """What the joined member's own key opens among the final models, before and after."""
        if self.joined is None:
            return None
        number, last_before = self.joined
        return self._read_access(self.coalition.outsider.address, number, last_before, final_blocks)

    def _read_access(self, account: str, number: int, last_before: int, final_blocks: list[int]) -> ReadAccess:
        ctx = self.context_of(account)
        before = [b for b in final_blocks if b <= last_before]
        after = [b for b in final_blocks if b > last_before]
        opened_before, opened_after = sum(_opens(ctx, b) for b in before), sum(_opens(ctx, b) for b in after)
        return ReadAccess(account, number, len(before), opened_before, len(after), opened_after)

    def play_round(self, number: int) -> RoundRecord:
        """The members active this round train on the head and register (in parallel, for the
        chain's clock), then the validators' passes run until the round closes."""
        head = self.ctx.ledger.cursor().head
        if number == self.config.remove_member_at:
            self.remove_last_honest_member(number)
        if number == self.config.join_member_at:
            self.join_new_member(number)
        for index in self.strategy.trainers(number, self.config.members):
            if self.removed is not None and index == self.removed[0]:
                continue
            self.submit(index, head, seed=self.config.seed * 1000 + number * 50 + index)
        self.chain.advance_time(self.config.time_model.training_s)
        return self.record(number, settle_round(self.chain, self.ctx.ledger, self.roles, self.phases))

    @property
    def strategy(self) -> Strategy:
        return self.config.strategy

    def record(self, number: int, settled: Settled) -> RoundRecord:
        record = round_record(self.ctx.ledger, number, settled, self.member_of_update, self.attack_updates)
        step = 1.0
        if settled.block is not None:
            step = declared_step(self.ctx.get_json(self.ctx.ledger.block_record(settled.block).metadata_hash)) or 1.0
        return replace(record, global_accuracy=self._head_accuracy(), step=step)

    def submit(self, index: int, head: int, seed: int) -> int:
        """Member `index` trains from the head (or poisons, if it is an attacker) and registers."""
        attacking = self.is_attacker(index)
        submission = submit_update(
            self.context_of(self.coalition.members[index].address),
            self.coalition.members[index],
            head,
            lambda parent: self.member_step(index, parent, seed)[0],
            len(self.split.members[index]),
            self.config.batch_size,
            self.phases,
        )
        self.member_of_update[submission.update_id] = index
        if attacking:
            self.attack_updates.add(submission.update_id)
        return submission.update_id

    def is_attacker(self, index: int) -> bool:
        return self.config.attack is not None and index < self.config.attackers

    def member_step(self, index: int, parent: State, seed: int) -> tuple[State, bool]:
        """What member `index` would submit from `parent`, and whether it is an attack."""
        shard = self.split.members[index]
        x, y = self.dataset.x[shard], self.dataset.y[shard]

        def train(features: np.ndarray, labels: np.ndarray) -> State:
            model = self.family.module(parent)
            train_local(model, features, labels, self.config.train_config, self.config.min_batch_size, seed)
            return model.state_dict()

        if not self.is_attacker(index):
            return train(x, y), False
        ancestor = self.ctx.block_weights(1)[1]
        inputs = AttackInputs(parent, train, x, y, self.dataset.num_classes, ancestor, seed)
        return poisoned_update(self.config.attack, inputs), True

    # ------------------------------------------------------------------ measures

    def global_accuracy(self, state: State) -> float:
        model = self.family.module(state)
        g = self.split.global_test
        return evaluate(model, self.dataset.x[g], self.dataset.y[g], self.dataset.num_classes).accuracy

    def backdoor_success(self, state: State) -> float:
        """Share of G's inputs of other classes that the trigger turns into the backdoor's target
        (measured on any model: without the attack it is the trigger's clean rate)."""
        target = backdoor_target(self.dataset.num_classes)
        g = self.split.global_test
        others = self.dataset.y[g] != target
        x = with_trigger(self.dataset.x[g][others])
        wanted = np.full(len(x), target, dtype=self.dataset.y.dtype)
        return evaluate(self.family.module(state), x, wanted, self.dataset.num_classes).accuracy

    def centralized_accuracy(self) -> float:
        """The same architecture trained on the union of the members' data, as many epochs as
        the coalition's rounds gave each member's data (in sequential learning a member trains
        once every `members` blocks). Remembered for the process: the attack and the rule do
        not change it, and a benchmark grid runs dozens of cells on the same data (on
        Fashion-MNIST it is a third of a baseline cell's time)."""
        key = replace(self.config, attack=None, attackers=0, aggregator="mean", fba=True)
        if key not in _CENTRALIZED:
            _CENTRALIZED[key] = self._train_centralized()
        return _CENTRALIZED[key]

    def _train_centralized(self) -> float:
        model = build(self.family.spec, seed=self.config.seed)
        train = self.split.train
        members, rounds = self.config.members, self.config.rounds
        turns = max(1, sum(len(self.strategy.trainers(n, members)) for n in range(1, rounds + 1)) // members)
        epochs = turns * self.config.local_epochs
        config = self.config.recipe.config(epochs=epochs)
        train_local(model, self.dataset.x[train], self.dataset.y[train], config, self.config.min_batch_size, 0)
        return self.global_accuracy(model.state_dict())

    def _head_accuracy(self) -> float:
        return self.global_accuracy(self.ctx.block_weights(self.ctx.ledger.cursor().head)[1])


def play_rounds(
    play: Callable[[int], RoundRecord], rounds: int, on_round: Callable[[RoundRecord], None] | None
) -> list[RoundRecord]:
    """Rounds 1..`rounds`, each reported to `on_round` as it ends."""
    history = []
    for number in range(1, rounds + 1):
        record = play(number)
        history.append(record)
        if on_round is not None:
            on_round(record)
    return history


def tally(ledger: Ledger, history: list[RoundRecord], updates: set[int], attacks: set[int]) -> dict[str, Any]:
    """A run's counts, from the chain: blocks accepted and rejected, the head, and how many of
    the honest and attacking updates reached the head's lineage."""
    head = ledger.cursor().head
    in_head = {u for b in ledger.lineage(head) if b != 1 for u in ledger.block_record(b).update_ids}
    honest = updates - attacks
    return {
        "rounds": len(history),
        "accepted": sum(r.outcome == "final" for r in history),
        "rejected": sum(r.outcome in ("rejected", "expired") for r in history),
        "head": head,
        "attacks_proposed": len(attacks),
        "attacks_accepted": len(attacks & in_head),
        "honest_proposed": len(honest),
        "honest_accepted": len(honest & in_head),
    }


def round_record(
    ledger: Ledger, number: int, settled: Settled, member_of_update: dict[int, int], attacks: set[int]
) -> RoundRecord:
    """How round `number` ended, as the chain says (its accuracy left at 0: the caller's)."""
    excluded = {member_of_update[u]: why for u, why in settled.excluded.items() if u in member_of_update}
    if settled.block is None:
        return RoundRecord(number, None, settled.general, [], 0, 0, 0, settled.how, 0.0, excluded)
    info, block = ledger.block(settled.block), ledger.block_record(settled.block)
    return RoundRecord(
        round=number,
        block=settled.block,
        general=settled.general,
        contributors=[member_of_update[u] for u in block.update_ids],
        attackers_in=sum(u in attacks for u in block.update_ids),
        accepts=info.accepts,
        rejects=info.rejects,
        outcome=OUTCOMES.get(info.state, settled.how),
        global_accuracy=0.0,
        excluded=excluded,
    )


def run_simulation(
    config: SimulationConfig,
    chain_url: str = "inprocess:memory",
    store_url: str | None = None,
    on_round: Callable[[RoundRecord], None] | None = None,
    keep: Path | None = None,
) -> SimulationResult:
    """Runs `config` against the chain and store named by the URLs (a temporary local store by
    default). With `keep`, the in-process chain's journal and the local store are kept there,
    with a record of where the ledger is and who is who (`RECORD`), for an auditor to read."""
    from tclearn.audit.coalition import RECORD, write_record

    with tempfile.TemporaryDirectory(prefix="tclearn-sim-") as scratch:
        base = Path(scratch)
        if keep is not None:
            base = keep
            if (keep / RECORD).exists():
                raise ConfigError(
                    f"{keep} already holds a simulation's record: keep each run in a directory of its own"
                )
            keep.mkdir(parents=True, exist_ok=True)
            chain_url = f"inprocess:{keep / 'chain.journal'}" if chain_url.startswith("inprocess") else chain_url
        store = open_store(store_url or "local", base)
        chain = connect(chain_url)
        try:
            if config.mode == "C":
                from tclearn.he.simulation import EncryptedSimulation  # TenSEAL loads only for mode C

                simulation: Simulation | EncryptedSimulation = EncryptedSimulation(config, chain, store, Path(scratch))
            else:
                simulation = Simulation(config, chain, store)
            result = simulation.run(on_round)
            if keep is not None:
                write_record(keep, chain.url, simulation.ctx.ledger.address, store.url, names_of(simulation, config))
            return result
        finally:
            chain.close()


def names_of(simulation: Any, config: SimulationConfig) -> dict[str, str]:
    """The simulation's participants by address: validator-i (rogue when it proposes unscreened),
    member-i (attacker when it poisons), and the operator (mode C's supervisor)."""
    coalition = simulation.coalition
    names = {coalition.operator.address: "operator (supervisor)" if config.mode == "C" else "operator"}
    for i, v in enumerate(coalition.validators):
        names[v.address] = f"validator-{i + 1}" + (" (rogue general)" if i < config.rogue_generals else "")
    for i, m in enumerate(coalition.members):
        attacking = config.attack is not None and i < config.attackers
        names[m.address] = f"member-{i + 1}" + (f" ({config.attack} attacker)" if attacking else "")
    return names


def rogue_general(ctx: CoalitionContext, voter: Voter) -> Screened:
    """A Byzantine general's candidate (`--rogue-generals`): every update trained on the head
    that passed integrity, attackers' included, combined by the coalition's declared recipe
    (`Careless`). A builder for `tclearn.engine.steps.General`."""
    return build_candidate(ctx, voter.evaluator, Careless(voter.strategy))  # type: ignore[arg-type]


def _opens(ctx: CoalitionContext, block: int) -> bool:
    try:
        ctx.block_weights(block)
    except SealError:
        return False
    return True


def _rule_params(config: SimulationConfig) -> dict[str, object]:
    expected_bad = max(1, config.attackers)
    if config.aggregator == "trimmed-mean":
        return {"beta": min(0.4, expected_bad / config.members)}
    if config.aggregator in ("krum", "multi-krum"):
        return {"num_malicious": expected_bad}
    return {}
