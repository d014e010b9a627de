"""Mode C's nodes in a coalition directory: the genesis head, the keys registered at deploy, and
each role as its command runs it (`tclearn supervisor run`, `validator run`, `member submit`).

Keys, by role (all under `keystores/`, encrypted under the keystore password):
- every participant with a role: an X25519 HPKE key (`NAME.hpke.json`), which the supervisor
  seals models and vote answers with, and which a member also uses as its secure-aggregation
  mask key (registered a second time, for that purpose);
- a supervisor: its CKKS keystore (`NAME.ckks/`, `tclearn.he.keystore`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tclearn.chain.ledger import Ledger
from tclearn.config import CoalitionConfig
from tclearn.engine.steps import Outcome, Submission, ValidatorRole
from tclearn.errors import ConfigError
from tclearn.fba.viability import screening_sample
from tclearn.he.features import FrozenFeatures
from tclearn.he.general import encrypted_general
from tclearn.he.head import HeadLayout
from tclearn.he.inference import labels_of
from tclearn.he.keystore import SupervisorKeystore
from tclearn.he.member import EncryptedMember
from tclearn.he.records import MASK_PURPOSE, PREDICT, Records, dump_head, publish_mask_key
from tclearn.he.supervisor import Supervisor
from tclearn.he.training import Recipe
from tclearn.he.voting import EncryptedVoter
from tclearn.model.genesis import GenesisArtifacts
from tclearn.model.weights import sha256
from tclearn.nodes.site import Node
from tclearn.privacy.keys import ParticipantKey
from tclearn.privacy.vault import Vault
from tclearn.store.base import ContentStore


def extractor(config: CoalitionConfig) -> FrozenFeatures:
    return FrozenFeatures.for_input(tuple(config.rules.architecture["input_shape"]))


def layout(config: CoalitionConfig) -> HeadLayout:
    return HeadLayout(extractor(config).width, int(config.rules.architecture["num_classes"]))


def make_genesis(input_shape: tuple[int, ...], classes: int, store: ContentStore) -> GenesisArtifacts:
    """The genesis head (all zeros: it holds no one's data, and is stored in clear) and the
    metadata naming the frozen extractor and the layout."""
    features = FrozenFeatures.for_input(input_shape)
    head_layout = HeadLayout(features.width, classes)
    weights = dump_head(np.zeros(head_layout.shape))
    metadata = json.dumps(
        {
            "mode": "C",
            "head": head_layout.as_dict(),
            "features": {"kind": features.kind, "seed": features.seed, "input_shape": list(input_shape)},
            "format": "safetensors",
        },
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    return GenesisArtifacts(weights, sha256(weights), store.put(weights), metadata, store.put(metadata))


def create_supervisor_keystore(config: CoalitionConfig, name: str, password: str, scrypt_n: int) -> None:
    SupervisorKeystore.create(supervisor_keystore_path(config, name), password, scrypt_n)


def supervisor_keystore_path(config: CoalitionConfig, name: str) -> Path:
    return config.directory / "keystores" / f"{name}.ckks"


def register_keys(config: CoalitionConfig, ledger: Ledger, store: ContentStore) -> None:
    """At deploy: every participant's HPKE key, and every member's mask key, on chain."""
    for name, participant in config.participants.items():
        key = config.unlock_hpke(name)
        if key is None or not participant.roles:
            continue
        account = config.unlock(name)
        Vault(ledger, store, participant.address, key).register(account)
        if "member" in participant.roles:
            registered = [r for r in ledger.key_registrations(MASK_PURPOSE) if r.account == participant.address]
            if not registered:
                publish_mask_key(ledger, store, account, key.public_bytes())


def _key(node: Node) -> ParticipantKey:
    key = node.config.unlock_hpke(node.name)
    if key is None:
        raise ConfigError(f"{node.name} has no HPKE keystore ({node.config.hpke_keystore(node.name)})")
    return key


def records(node: Node) -> Records:
    return Records(node.ctx.ledger, node.ctx.store, layout(node.config))


def supervisor(node: Node) -> Supervisor:
    """The supervisor as `tclearn supervisor run` runs it."""
    keystore = SupervisorKeystore.open(supervisor_keystore_path(node.config, node.name), node.config.password())
    vault = Vault(node.ctx.ledger, node.ctx.store, node.account.address, _key(node))
    vault.register(node.account)
    return Supervisor(records(node), node.account, keystore, vault)


def validator_role(
    node: Node,
    test_sets: tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
    general: bool,
    votes: bool,
) -> ValidatorRole:
    """A mode-C validator: its G sample and L through the frozen extractor, its keys, its
    persisted progress, and (unless `general` is False) the general's duty."""
    features = extractor(node.config)
    (gx, gy), (lx, ly) = test_sets
    sample = screening_sample(len(gy))
    sets = ((features(gx[sample]), gy[sample]), (features(lx), ly))
    state = node.config.directory / "state" / node.name / "voter.json"
    rules = node.config.rules
    voter = EncryptedVoter(
        node.ctx, node.account, records(node), _key(node), sets, rules.tolerance, rules.strategy(), state
    )
    duty = encrypted_general(voter.records, node.account, rules.gather_s) if general else None
    return ValidatorRole(voter, duty, votes)


def member(node: Node, features: np.ndarray, labels: np.ndarray) -> EncryptedMember:
    """The member as `tclearn member submit` and `member correct` run it, on its data through
    the frozen extractor; its mask key is its HPKE key."""
    return EncryptedMember(records(node), node.account, _key(node).x25519(), features, labels, Recipe())


def submit(node: Node, x: np.ndarray, y: np.ndarray) -> Submission:
    """A member's step on the head (raises `Pending` until the supervisor issued its copy); the
    ledger refuses it if the member holds fewer samples than the minimum batch size."""
    encrypted = member(node, extractor(node.config)(x), np.asarray(y))
    return encrypted.submit(node.ctx.ledger.cursor().head)


def correct(node: Node) -> Outcome | None:
    """A member's correction for the absent members of the current attempt, if one is due (it
    needs no data)."""
    width = layout(node.config).features
    return member(node, np.zeros((0, width)), np.zeros(0, dtype=np.int64)).correct()


def predict(node: Node, x: np.ndarray, block: int) -> np.ndarray:
    """A member's labels for its samples `x` under its copy of `block`, by encrypted inference
    (raises `Pending` until the supervisor has answered; `tclearn.he.inference`)."""
    features = extractor(node.config)(x)
    return labels_of(records(node), node.account, _key(node), PREDICT, block, features)
