"""A coalition directory: `coalition.json`, the keystores, and the state of its chain.

<dir>/coalition.json      this file's dataclass, as JSON (no secret ever goes in it)
<dir>/keystores/*.json    encrypted keys (eth-account keystore v3)
<dir>/secrets/keystore.password  optional, 0600; TCLEARN_PASSWORD overrides it
<dir>/chain.journal       the in-process chain's journal (chain "inprocess")
<dir>/store/              the embedded content store (store "local")
<dir>/devnet/             the project-managed anvil (chain "anvil")
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
from tclearn.errors import ConfigError
from tclearn.fileio import write_atomic
from tclearn.rules import CoalitionRules
from tclearn.services import anvil_status

CONFIG_NAME = "coalition.json"
MANAGED_DEVNET = "anvil"


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
            raw: dict[str, Any] = json.loads(path.read_text())
        except FileNotFoundError as exc:
            raise ConfigError(f"no coalition at {directory} (missing {CONFIG_NAME}): run tclearn init") from exc
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path} is not valid JSON: {exc.msg} at line {exc.lineno}") from exc
        try:
            raw["participants"] = {k: Participant(**v) for k, v in raw.get("participants", {}).items()}
            raw["genesis"] = GenesisModel(**raw["genesis"]) if raw.get("genesis") else None
            raw["ledger"] = Deployed(**raw["ledger"]) if raw.get("ledger") else None
            raw["rules"] = CoalitionRules.from_dict(raw["rules"])
            return cls(**raw, directory=directory)
        except (TypeError, KeyError) as exc:
            raise ConfigError(f"{path} has unexpected or missing fields: {exc}") from exc

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
            raise ConfigError(f"the coalition's devnet is not running: tclearn --dir {self.directory} devnet up")
        return info.url

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
        """The participant's key, decrypted in memory."""
        participant = self.participant(name)
        password_file = self.directory / self.password_file if self.password_file else None
        return load_account(self.directory / participant.keystore, resolve_password(password_file))

    def roles(self) -> dict[str, list[str]]:
        """Addresses by role, as the ledger's constructor takes them."""
        by_role: dict[str, list[str]] = {role: [] for role in ROLES}
        for participant in self.participants.values():
            for role in participant.roles:
                by_role[role].append(participant.address)
        return by_role
