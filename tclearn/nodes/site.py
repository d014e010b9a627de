"""Everything a node process loads from its coalition directory: context, account, test sets.

A node is one participant of one coalition directory (`--as NAME`). Its data comes either from
its own files (a hospital's CSV) or, for demonstrations, from its shard of the packaged dataset
named in the config's `task` (the same split `tclearn simulate` makes).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from eth_account.signers.local import LocalAccount

from tclearn.chain.backends import Chain
from tclearn.config import CoalitionConfig
from tclearn.data.datasets import Dataset, load_dataset
from tclearn.data.loaders import load_local_data
from tclearn.data.splits import CoalitionSplit, split_coalition
from tclearn.engine.steps import General, ValidatorRole
from tclearn.errors import ConfigError
from tclearn.fba.context import CoalitionContext
from tclearn.fba.viability import Evaluator
from tclearn.fba.vote import Voter
from tclearn.model.family import ModelFamily
from tclearn.privacy.vault import Vault
from tclearn.rules import verify_rules
from tclearn.store import open_store


@dataclass
class Node:
    config: CoalitionConfig
    chain: Chain
    ctx: CoalitionContext
    name: str
    account: LocalAccount

    def close(self) -> None:
        self.chain.close()


def open_node(directory: Path, name: str) -> Node:
    """Connects participant `name` of the coalition in `directory` to its chain and store."""
    config = CoalitionConfig.load(directory)
    if config.genesis is None:
        raise ConfigError("the config has no genesis model")
    account = config.unlock(name)
    chain = config.connect()
    try:
        ledger = config.ledger_on(chain)
        store = open_store(config.store_url(), directory)
        verify_rules(config.rules, ledger.params().rules_digest, store)
        family = ModelFamily.of(config.rules.architecture)
        vault = None
        if config.mode == "B":
            vault = Vault(ledger, store, account.address, config.unlock_hpke(name))
            vault.register(account)
        ctx = CoalitionContext(ledger, store, family, vault=vault)
    except Exception:
        chain.close()
        raise
    return Node(config, chain, ctx, name, account)


def member_data(node: Node, data: Path | None) -> tuple[np.ndarray, np.ndarray]:
    """A member's training data: its CSV or image folder, or its shard of the demonstration task."""
    if data is not None:
        spec = node.ctx.family.spec
        local = load_local_data(data, spec.input_shape, spec.num_classes, node.config.rules.preprocess())
        return local.x, local.y
    dataset, split = _task_split(node.config)
    index = _role_index(node, "member")
    shard = split.members[index]
    return dataset.x[shard], dataset.y[shard]


TestSets = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]  # (G x, y), (L x, y)


def global_test_set(node: Node, path: Path | None) -> tuple[np.ndarray, np.ndarray]:
    """G: from a file (CSV or image folder), or the demonstration task's (what an auditor that
    recomputes the validators' figures evaluates on)."""
    if path is not None:
        g = load_local_data(
            path, node.ctx.family.spec.input_shape, node.ctx.family.spec.num_classes, node.config.rules.preprocess()
        )
        return g.x, g.y
    dataset, split = _task_split(node.config)
    return dataset.x[split.global_test], dataset.y[split.global_test]


def validator_test_sets(node: Node, global_path: Path | None, local_path: Path | None) -> TestSets:
    """A validator's test sets: G and its own L, from files (CSV or image folders) or from the
    demonstration task."""
    shape, classes = node.ctx.family.spec.input_shape, node.ctx.family.spec.num_classes
    prep = node.config.rules.preprocess()
    if global_path is not None and local_path is not None:
        g, local = (load_local_data(path, shape, classes, prep) for path in (global_path, local_path))
        return (g.x, g.y), (local.x, local.y)
    if (global_path is None) != (local_path is None):
        raise ConfigError("give both --global-test and --local-test, or neither")
    dataset, split = _task_split(node.config)
    index = _role_index(node, "validator")
    g, local = split.global_test, split.local_tests[index]
    return (dataset.x[g], dataset.y[g]), (dataset.x[local], dataset.y[local])


def validator_evaluator(node: Node, global_path: Path | None, local_path: Path | None) -> Evaluator:
    (gx, gy), (lx, ly) = validator_test_sets(node, global_path, local_path)
    return Evaluator(node.ctx.family, gx, gy, lx, ly, node.config.rules.tolerance)


def validator_role(
    node: Node,
    global_path: Path | None,
    local_path: Path | None,
    general: bool = True,
    votes: bool = True,
) -> ValidatorRole:
    """The validator as its daemon runs it: its test sets, its vote progress in
    `<dir>/state/<name>/voter.json`, and (unless `general` is False) its duty as general."""
    if node.config.mode == "C":
        from tclearn.he import node as mode_c  # TenSEAL loads only for mode C

        return mode_c.validator_role(node, validator_test_sets(node, global_path, local_path), general, votes)
    evaluator = validator_evaluator(node, global_path, local_path)
    state = node.config.directory / "state" / node.name / "voter.json"
    voter = Voter(node.ctx, node.account, evaluator, node.config.rules.strategy(), state)
    duty = General(node.account, node.config.rules.gather_s) if general else None
    return ValidatorRole(voter, duty, votes)


def _task_split(config: CoalitionConfig) -> tuple[Dataset, CoalitionSplit]:
    task = config.task
    if not task:
        raise ConfigError("no data given and the coalition has no demonstration task: pass --data / test CSVs")
    dataset = load_dataset(task["dataset"])
    members = sum("member" in p.roles for p in config.participants.values())
    validators = sum("validator" in p.roles for p in config.participants.values())
    return dataset, split_coalition(dataset, members, validators, task.get("seed", 0), alpha=task.get("alpha"))


def _role_index(node: Node, role: str) -> int:
    holders = [name for name, p in node.config.participants.items() if role in p.roles]
    if node.name not in holders:
        raise ConfigError(f"{node.name} is not a {role} of {node.config.name}")
    return holders.index(node.name)
