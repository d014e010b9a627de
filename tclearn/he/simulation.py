"""A whole mode-C coalition on one machine: the supervisor provisions and issues copies, members
train under encryption, the drawn general asks for the aggregate, validators vote on encrypted
inference. Every node's step is the engine's (`tclearn.engine`): the same schedule as modes A
and B, with the supervisor's pass run at every sweep.

Beside the encrypted run it trains the same head in clear, from the same data, maps and rounds
(`plaintext_accuracy`): mode C's cost in accuracy is the gap between the two, and what the
frozen-feature head gives up against mode A's network is the gap to `centralized_accuracy`.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
from cryptography.hazmat.primitives.asymmetric import x25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tclearn.chain.backends import Chain
from tclearn.chain.deploy import Genesis
from tclearn.chain.ephemeral import ephemeral_coalition
from tclearn.chain.ledger import LedgerParams
from tclearn.data.datasets import load_dataset
from tclearn.data.splits import split_coalition, stratified_subset
from tclearn.engine.schedule import Settled, settle_round
from tclearn.engine.steps import Outcome, ValidatorRole
from tclearn.fba.context import CoalitionContext
from tclearn.fba.viability import screening_sample
from tclearn.he import training
from tclearn.he.features import FrozenFeatures
from tclearn.he.general import encrypted_general
from tclearn.he.head import HeadLayout, plain_logits
from tclearn.he.keystore import SupervisorKeystore
from tclearn.he.member import EncryptedMember
from tclearn.he.records import KEM, Records, dump_head, publish_mask_key
from tclearn.he.supervisor import Supervisor
from tclearn.he.voting import EncryptedVoter
from tclearn.model.family import ModelFamily
from tclearn.model.weights import sha256
from tclearn.privacy.keys import ParticipantKey
from tclearn.privacy.vault import Vault, publish_key
from tclearn.simulate import (
    RoundRecord,
    SimulationConfig,
    SimulationResult,
    default_architecture,
    play_rounds,
    round_record,
    tally,
)
from tclearn.store.base import ContentStore
from tclearn.store.cid import cid_digest

ATTACKS = ("label-flip", "sign-flip", "scale", "noise", "free-ride")
SCRYPT_N = 2**10  # the simulation's throwaway keystore


class EncryptedSimulation:
    """One mode-C coalition run; `run()` plays the rounds."""

    def __init__(self, config: SimulationConfig, chain: Chain, store: ContentStore, scratch: Path):
        if config.attack is not None and config.attack not in ATTACKS:
            raise ValueError(f"mode C simulates the attacks {', '.join(ATTACKS)}, not {config.attack!r}")
        self.config = config
        dataset = load_dataset(config.dataset)
        self.dataset = dataset if config.subset is None else stratified_subset(dataset, config.subset, config.seed)
        self.split = split_coalition(self.dataset, config.members, config.validators, config.seed, alpha=config.alpha)
        self.extractor = FrozenFeatures.for_input(self.dataset.input_shape)
        self.features = self.extractor(self.dataset.x)
        self.layout = HeadLayout(self.extractor.width, self.dataset.num_classes)
        self.recipe = training.Recipe()
        genesis_head = dump_head(np.zeros(self.layout.shape))
        metadata = {
            "mode": "C",
            "head": self.layout.as_dict(),
            "features": {
                "kind": self.extractor.kind,
                "seed": self.extractor.seed,
                "input_shape": self.dataset.input_shape,
            },
            "format": "safetensors",
        }
        metadata_cid = store.put(json.dumps(metadata, sort_keys=True).encode())
        architecture = default_architecture(self.dataset, config.hidden, "frozen-linear")
        rules = config.rules(architecture)
        store.put(rules.document())  # the document whose digest the ledger fixes, for anyone to read
        params = LedgerParams("C", config.min_batch_size, 300, 600, 86_400, rules.digest())
        genesis = Genesis(sha256(genesis_head), cid_digest(store.put(genesis_head)), cid_digest(metadata_cid))
        self.coalition = ephemeral_coalition(
            chain, params, genesis, config.validators, config.members, seed=config.seed
        )
        self.chain = chain
        chain.hold_clock()
        ledger = self.coalition.ledger
        family = ModelFamily(architecture)  # the same head in torch: what mode A would train
        self.ctx = CoalitionContext(ledger, store, family)
        self.records = Records(ledger, store, self.layout)
        keys = {a.address: ParticipantKey.generate(KEM) for a in [self.coalition.operator, *self.coalition.validators]}
        for account in [self.coalition.operator, *self.coalition.validators]:
            publish_key(ledger, store, account, keys[account.address])
        operator = self.coalition.operator
        self.supervisor = Supervisor(
            self.records,
            operator,
            SupervisorKeystore.create(scratch / "supervisor", "simulation", SCRYPT_N),
            Vault(ledger, store, operator.address, keys[operator.address]),
        )
        self.members = []
        for index, account in enumerate(self.coalition.members):
            mask_key = x25519.X25519PrivateKey.generate()
            publish_mask_key(ledger, store, account, mask_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
            shard = self.split.members[index]
            self.members.append(
                EncryptedMember(
                    self.records,
                    account,
                    mask_key,
                    self.features[shard],
                    self.dataset.y[shard],
                    self.recipe,
                )
            )
        g = self.split.global_test
        judged_g = g[screening_sample(len(g))]  # a vote decrypts its samples' outputs: 512 of G, not all
        self.roles = []
        for validator, local in zip(self.coalition.validators, self.split.local_tests, strict=True):
            voter = EncryptedVoter(
                self.ctx,
                validator,
                self.records,
                keys[validator.address],
                ((self.features[judged_g], self.dataset.y[judged_g]), (self.features[local], self.dataset.y[local])),
                config.tolerance,
                config.strategy,
                secret_source=random.Random(f"{config.seed}/{validator.address}"),
            )
            general = encrypted_general(self.records, validator, config.rules().gather_s)
            self.roles.append(ValidatorRole(voter, general))
        self.attack_updates: set[int] = set()
        self.member_of_update: dict[int, int] = {}
        self.twin = np.zeros(self.layout.shape)  # the same head trained in clear
        self.playing = 0  # the round `play_round` plays

    # ------------------------------------------------------------------ the rounds

    def run(self, on_round: Callable[[RoundRecord], None] | None = None) -> SimulationResult:
        history = play_rounds(self.play_round, self.config.rounds, on_round)
        ledger = self.ctx.ledger
        return SimulationResult(
            **tally(ledger, history, set(self.member_of_update), self.attack_updates),
            final_accuracy=self.accuracy(self.supervisor.head_weights(ledger.cursor().head)),
            centralized_accuracy=self.centralized_accuracy(),
            history=history,
            mode="C",
            plaintext_accuracy=self.accuracy(self.twin),
        )

    def play_round(self, number: int) -> RoundRecord:
        """The supervisor issues the head's copies, every member trains on its copy and
        registers, then the nodes' passes run until the round closes."""
        ledger = self.ctx.ledger
        while self.supervisor.pass_() is not None:  # contexts and the head's copies
            pass
        parent = ledger.cursor().head
        maps = []
        self.playing = number
        for index, member in enumerate(self.members):
            if self.is_dead(index, number):
                continue
            local = self.member_map(index, member)
            submission = member.submit(parent, local)
            self.member_of_update[submission.update_id] = index
            if self.is_attacker(index):
                self.attack_updates.add(submission.update_id)
            maps.append(local)
        self.chain.advance_time(self.config.time_model.training_s)
        settled = settle_round(self.chain, ledger, self.roles, helpers=[self.supervisor.pass_, self.corrections])
        record = self.record(number, settled)
        if record.outcome == "final":  # the twin moves where the coalition moved
            self.twin = self.twin + sum(m.samples * training.plain_update(self.twin, m) for m in maps) / sum(
                m.samples for m in maps
            )
        return record

    def corrections(self) -> Outcome | None:
        """The live members' corrections for the absent ones, as each member's node files them
        (`tclearn member correct`)."""
        for index, member in enumerate(self.members):
            if self.is_dead(index, self.playing):
                continue
            outcome = member.correct()
            if outcome is not None and outcome.action == "correction-filed":
                return outcome
        return None

    def is_dead(self, index: int, number: int) -> bool:
        """Whether member `index`'s node is dead in round `number` (`drop_member_at`)."""
        at = self.config.drop_member_at
        return at is not None and index == len(self.members) - 1 and number >= at

    def member_map(self, index: int, member: EncryptedMember) -> training.LocalMap:
        """What member `index` applies to its copy: its own local map, or an attacker's."""
        if not self.is_attacker(index):
            return member.local_map()
        attack = self.config.attack
        if attack == "label-flip":
            flipped = (self.layout.classes - 1 - member.labels) % self.layout.classes
            return training.local_map(member.features, flipped, self.layout.classes, self.recipe)
        local = member.local_map()
        rng = np.random.default_rng(self.config.seed * 1000 + index)
        factor = {"sign-flip": -1.0, "scale": 10.0, "free-ride": 0.0}.get(str(attack))
        if factor is not None:
            return training.LocalMap(local.q * factor, local.c * factor, local.samples)
        return training.LocalMap(np.zeros_like(local.q), rng.normal(size=local.c.shape), local.samples)  # noise

    def is_attacker(self, index: int) -> bool:
        return self.config.attack is not None and index < self.config.attackers

    def record(self, number: int, settled: Settled) -> RoundRecord:
        record = round_record(self.ctx.ledger, number, settled, self.member_of_update, self.attack_updates)
        head = self.ctx.ledger.cursor().head
        return replace(record, global_accuracy=self.accuracy(self.supervisor.head_weights(head)))

    # ------------------------------------------------------------------ measures

    def accuracy(self, weights: np.ndarray) -> float:
        g = self.split.global_test
        return float(np.mean(plain_logits(weights, self.features[g]).argmax(axis=1) == self.dataset.y[g]))

    def centralized_accuracy(self) -> float:
        """The same head trained centrally (ridge least squares, closed form) on the union of
        the members' data: the frozen-feature family's ceiling."""
        train = self.split.train
        x = np.hstack([self.features[train], np.ones((len(train), 1))])
        targets = np.eye(self.layout.classes)[self.dataset.y[train]]
        ridge = self.recipe.ridge * len(train) * np.eye(x.shape[1])
        weights = np.linalg.solve(x.T @ x + ridge, x.T @ targets).T
        return self.accuracy(weights)
