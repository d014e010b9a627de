"""A coalition directory: `coalition.json`, the keystores, and the state of its chain.

<dir>/coalition.json      this file's dataclass, as JSON (no secret ever goes in it)
<dir>/keystores/*.json    encrypted keys (eth-account keystore v3)
<dir>/keystores/*.hpke.json  mode B: encrypted HPKE keys (`tclearn.privacy.keys`)
<dir>/secrets/keystore.password  optional, 0600; TCLEARN_PASSWORD overrides it
<dir>/chain.journal       the in-process chain's journal (chain "inprocess")
<dir>/store/              the embedded content store (store "local")
<dir>/devnet/             the project-managed anvil (chain "anvil")
<dir>/ipfs/               the coalition's own IPFS node (store "ipfs")
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount

from tclearn.chain.accounts import load_account, resolve_password
from tclearn.chain.backends import Chain, connect
from tclearn.chain.ledger import ROLES, Ledger, LedgerParams
from tclearn.errors import ChainError, ConfigError
from tclearn.fileio import write_atomic
from tclearn.privacy.keys import ParticipantKey, load_key
from tclearn.rules import CoalitionRules
from tclearn.services import anvil_status, ipfs_status
from tclearn.store.base import StoreError

CONFIG_NAME = "coalition.json"
MANAGED_DEVNET = "anvil"
MANAGED_IPFS = "ipfs"
IPFS_REPO = "ipfs"  # the coalition's own IPFS node's repository, in its directory


@dataclass
class Participant:
    """One account of this directory: its address, keystore file and roles at genesis."""

    address: str
    keystore: str
    roles: list[str]


@dataclass
class Deployed:
    """Where the coalition's ledger lives."""

    address: str
    chain_id: int
    block: int


@dataclass
class GenesisModel:
    """The model the lineage starts from, as stored: SHA-256, IPFS CID, and the CID of the
    metadata that names its architecture."""

    sha256: str
    cid: str
    metadata_cid: str


@dataclass
class CoalitionConfig:
    """Everything a node needs to find its coalition; saved as `coalition.json`."""

    name: str
    rules: CoalitionRules
    chain: str = "inprocess"
    store: str = "local"
    proposal_timeout: int = 300
    vote_timeout: int = 600
    membership_timeout: int = 86_400
    deployer: str = "operator"
    password_file: str | None = None
    participants: dict[str, Participant] = field(default_factory=dict)
    genesis: GenesisModel | None = None
    # Demonstration task on a packaged dataset: {"dataset", "seed", "alpha"}; each node derives
    # its own shard from it. Real sites pass their own data files instead.
    task: dict[str, Any] | None = None
    ledger: Deployed | None = None
    directory: Path = field(default=Path("."), repr=False, compare=False)

    def __post_init__(self) -> None:
        for name, participant in self.participants.items():
            unknown = set(participant.roles) - set(ROLES)
            if unknown:
                raise ConfigError(f"participant {name} has unknown roles {sorted(unknown)}")

    # ------------------------------------------------------------------ persistence

    @classmethod
    def load(cls, directory: Path) -> CoalitionConfig:
        path = directory / CONFIG_NAME
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"no coalition at {directory} (missing {CONFIG_NAME}): run tclearn init") from exc
        except IsADirectoryError as exc:
            raise ConfigError(f"{path} is a directory, not a coalition file") from exc
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{path} is not text (byte {exc.start} is not UTF-8)") from exc
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path} is not valid JSON: {exc.msg} at line {exc.lineno}") from exc
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
        if not isinstance(raw, dict):
            raise ConfigError(f"{path} is not a JSON object")
        try:
            raw["participants"] = {k: Participant(**v) for k, v in _mapping(raw, "participants").items()}
            raw["genesis"] = GenesisModel(**_mapping(raw, "genesis")) if raw.get("genesis") else None
            raw["ledger"] = Deployed(**_mapping(raw, "ledger")) if raw.get("ledger") else None
            raw["rules"] = CoalitionRules.from_dict(_mapping(raw, "rules"))
            config = cls(**raw, directory=directory)
        except (TypeError, KeyError) as exc:
            raise ConfigError(f"{path} has unexpected or missing fields: {exc}") from exc
        config.check_types(path)
        return config

    def check_types(self, path: Path) -> None:
        """The values a node acts on, checked once: a wrong one is one line here, not a
        traceback deep in a transaction."""
        for name in ("name", "chain", "store", "deployer"):
            if not isinstance(getattr(self, name), str):
                raise ConfigError(f"{path}: {name} must be a string")
        for name in ("proposal_timeout", "vote_timeout", "membership_timeout"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ConfigError(f"{path}: {name} must be a positive whole number of seconds")
        for who, participant in self.participants.items():
            if not _is_address(participant.address):
                raise ConfigError(f"{path}: participant {who} has no valid address ({participant.address!r})")
            if not isinstance(participant.keystore, str) or not isinstance(participant.roles, list):
                raise ConfigError(f"{path}: participant {who} needs a keystore path and a list of roles")
        if self.ledger is not None and not _is_address(self.ledger.address):
            raise ConfigError(f"{path}: the ledger address {self.ledger.address!r} is not an address (0x + 40 hex)")

    def save(self) -> None:
        data = asdict(self)
        del data["directory"]
        data["rules"] = self.rules.as_dict()
        write_atomic(self.directory / CONFIG_NAME, json.dumps(data, indent=2) + "\n")

    # ------------------------------------------------------------------ derived

    @property
    def params(self) -> LedgerParams:
        return LedgerParams(
            self.rules.mode,
            self.rules.min_batch_size,
            self.proposal_timeout,
            self.vote_timeout,
            self.membership_timeout,
            self.rules.digest(),
        )

    @property
    def mode(self) -> str:
        return self.rules.mode

    @property
    def devnet_dir(self) -> Path:
        return self.directory / "devnet"

    def chain_url(self) -> str:
        """The chain URL to connect to; the managed devnet resolves to where anvil listens."""
        if self.chain != MANAGED_DEVNET:
            return self.chain
        info = anvil_status(self.devnet_dir)
        if info is None or not info.running:
            raise ChainError(f"the coalition's devnet is not running: tclearn --dir {self.directory} devnet up")
        return info.url

    def store_url(self) -> str:
        return store_url(self.store, self.directory)

    def connect(self) -> Chain:
        return connect(self.chain_url(), self.directory)

    def ledger_on(self, chain: Chain) -> Ledger:
        if self.ledger is None:
            raise ConfigError(f"coalition {self.name} is not deployed yet: tclearn --dir {self.directory} deploy")
        if chain.chain_id != self.ledger.chain_id:
            raise ConfigError(
                f"the ledger was deployed on chain {self.ledger.chain_id}, but {chain.url} is chain {chain.chain_id}"
            )
        return Ledger(chain, self.ledger.address)

    def participant(self, name: str) -> Participant:
        try:
            return self.participants[name]
        except KeyError as exc:
            known = ", ".join(sorted(self.participants)) or "none"
            raise ConfigError(f"no participant {name!r} in {self.name} (known: {known})") from exc

    def unlock(self, name: str) -> LocalAccount:
        """The participant's key, decrypted in memory; refused if it is not the account the
        config names (a changed address would otherwise be silently ignored)."""
        participant = self.participant(name)
        account = load_account(self.directory / participant.keystore, self.password())
        if account.address.lower() != participant.address.lower():
            raise ConfigError(
                f"{CONFIG_NAME} says {name} is {participant.address}, but its keystore holds {account.address}"
            )
        return account

    def password(self) -> str:
        """The keystore password: from the environment, or the config's 0600 password file."""
        return resolve_password(self.directory / self.password_file if self.password_file else None)

    def hpke_keystore(self, name: str) -> Path:
        """Where mode B keeps participant `name`'s HPKE private key, encrypted like its account."""
        return self.directory / "keystores" / f"{name}.hpke.json"

    def unlock_hpke(self, name: str) -> ParticipantKey | None:
        """Participant `name`'s HPKE key (mode B), decrypted in memory; None if it has none."""
        path = self.hpke_keystore(name)
        if not path.exists():
            return None
        key = load_key(path, self.password())
        if key.kem != self.rules.kem:
            raise ConfigError(f"{path} holds a {key.kem} key; the coalition's rules say {self.rules.kem}")
        return key

    def roles(self) -> dict[str, list[str]]:
        """Addresses by role, as the ledger's constructor takes them."""
        by_role: dict[str, list[str]] = {role: [] for role in ROLES}
        for participant in self.participants.values():
            for role in participant.roles:
                by_role[role].append(participant.address)
        return by_role


def _mapping(raw: dict[str, Any], key: str) -> dict[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{CONFIG_NAME}: {key} must be a JSON object, not {type(value).__name__}")
    return value


def _is_address(value: object) -> bool:
    return isinstance(value, str) and len(value) == 42 and value.startswith("0x") and _is_hex(value[2:])


def _is_hex(text: str) -> bool:
    try:
        int(text, 16)
    except ValueError:
        return False
    return True


def store_url(store: str, directory: Path) -> str:
    """The URL to open store `store` of the coalition in `directory`: the coalition's own IPFS
    node ("ipfs") resolves to where it listens."""
    if store != MANAGED_IPFS:
        return store
    info = ipfs_status(directory / IPFS_REPO)
    if info is None or not info.running:
        raise StoreError(f"the coalition's IPFS node is not running: tclearn --dir {directory} ipfs up")
    return info.url
