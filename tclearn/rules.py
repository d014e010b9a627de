"""The coalition's rules: what every node must agree on, fixed at `init`, committed at deploy.

One document holds them: the mode, the learning strategy (sequential or federated averaging,
the aggregation rule and its parameters, whether the FBA screens at all), the vote tolerance,
the architecture, the training recipe (the minimum batch the ledger enforces, and the epochs,
batch size and learning rate members use by default), the general's gathering window and the
preprocessing of raw CSV features. Its canonical JSON is stored in
the content store and the digest of its CID is fixed in the ledger at deployment
(`rulesDigest`). Every node reads its rules from its `coalition.json` and refuses to start when
they do not hash to the ledger's digest, saying which rule differs: a validator can no longer
judge by other rules than its coalition's because of a flag.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

from tclearn.chain.ledger import MODES
from tclearn.data.preprocessing import Preprocessing
from tclearn.errors import ConfigError
from tclearn.fba.policy import Tolerance
from tclearn.fba.strategy import AGGREGATORS, LEARNING_MODES, Strategy, strategy_for
from tclearn.privacy.keys import DEFAULT_KEM, KEMS
from tclearn.store.base import ContentStore, StoreError
from tclearn.store.cid import cid_digest, cid_v0, digest_to_cid

if TYPE_CHECKING:
    from tclearn.model.train import TrainConfig

GATHER_S = 10  # the general's default gathering window, in seconds


@dataclass(frozen=True)
class TrainingRecipe:
    """How members train by default; validators check only the minimum batch (on chain)."""

    epochs: int = 2
    batch_size: int = 16
    learning_rate: float = 0.05
    # Each batch's gradient norm, at most (`TrainConfig.clip_norm`). None: not clipped, as in rules
    # written before clipping (their documents do not name it, and keep their digest).
    clip_norm: float | None = 1.0

    def config(
        self, epochs: int | None = None, batch_size: int | None = None, learning_rate: float | None = None
    ) -> TrainConfig:
        """The training this recipe makes, with any of its settings overridden."""
        from tclearn.model.train import TrainConfig  # torch, only where training happens

        epochs, batch_size = epochs or self.epochs, batch_size or self.batch_size
        return TrainConfig(epochs, batch_size, learning_rate or self.learning_rate, clip_norm=self.clip_norm)


@dataclass(frozen=True)
class CoalitionRules:
    architecture: dict[str, Any]  # ArchitectureSpec.as_dict()
    mode: str = "A"
    learning: str = "fedavg"
    aggregator: str = "mean"
    aggregator_params: dict[str, Any] = field(default_factory=dict)
    screening: bool = True  # False only for the unscreened baseline (no FBA)
    tolerance: Tolerance = field(default_factory=Tolerance)
    min_batch_size: int = 16
    training: TrainingRecipe = field(default_factory=TrainingRecipe)
    # Seconds the drawn general waits after the first update on the head before it proposes,
    # so that updates sent together are proposed together rather than the first one alone.
    gather_s: int = GATHER_S
    # How nodes turn a CSV's raw features into the model's input (`Preprocessing.as_dict`).
    preprocessing: dict[str, Any] = field(default_factory=dict)
    # Mode B: the KEM that wraps every data key (`tclearn.privacy.keys.KEMS`); None in mode A,
    # whose documents do not name it and keep their digest.
    kem: str | None = None
    # Mode B: a participant that joins is granted the models finalised before it joined too.
    joiners_read_history: bool = False

    def __post_init__(self) -> None:
        self.preprocess()  # a malformed transform is refused where the rules are read
        if self.mode not in MODES:
            raise ConfigError(f"unknown mode {self.mode!r}: one of {', '.join(MODES)}")
        if self.learning not in LEARNING_MODES:
            raise ConfigError(f"unknown learning mode {self.learning!r}: one of {', '.join(LEARNING_MODES)}")
        if self.aggregator not in AGGREGATORS:
            raise ConfigError(f"unknown aggregation rule {self.aggregator!r}: one of {', '.join(AGGREGATORS)}")
        if self.mode == "B" and self.kem is None:
            object.__setattr__(self, "kem", DEFAULT_KEM)
        if self.kem is not None and self.kem not in KEMS:
            raise ConfigError(f"unknown KEM {self.kem!r}: one of {', '.join(KEMS)}")
        if self.training.batch_size < self.min_batch_size:
            raise ConfigError(
                f"the training batch size {self.training.batch_size} is below the minimum {self.min_batch_size}"
            )

    def preprocess(self) -> Preprocessing:
        return Preprocessing.from_dict(self.preprocessing)

    def strategy(self) -> Strategy:
        return strategy_for(self.learning, self.aggregator, self.aggregator_params, self.screening)

    # ------------------------------------------------------------------ the document

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if data["kem"] is None:
            del data["kem"]  # mode A's rules keep their digest
        if not data["joiners_read_history"]:
            del data["joiners_read_history"]
        if data["training"]["clip_norm"] is None:
            del data["training"]["clip_norm"]  # rules written before clipping keep their digest
        return {"format": "tclearn-rules/1", **data}

    def document(self) -> bytes:
        """Canonical JSON: the same rules always give the same bytes, hence the same CID."""
        return json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":")).encode()

    def digest(self) -> bytes:
        """The CIDv0 digest of the document: what the ledger holds as `rulesDigest`."""
        return cid_digest(cid_v0(self.document()))

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> CoalitionRules:
        data = {k: v for k, v in raw.items() if k != "format"}
        known = {f.name for f in fields(cls)}
        if unknown := set(data) - known:
            raise ConfigError(f"unknown rules {sorted(unknown)}")
        try:
            data["tolerance"] = Tolerance(**data.get("tolerance", {}))
            data["training"] = TrainingRecipe(**{"clip_norm": None, **data.get("training", {})})
            return cls(**data)
        except TypeError as exc:
            raise ConfigError(f"malformed rules: {exc}") from exc

    @classmethod
    def from_document(cls, data: bytes) -> CoalitionRules:
        try:
            return cls.from_dict(json.loads(data))
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as exc:
            raise ConfigError("the rules document is not a JSON object") from exc

    def differences(self, other: CoalitionRules) -> list[str]:
        """Each rule that differs, as `name: X here, Y on chain`."""
        mine, theirs = _flat(self.as_dict()), _flat(other.as_dict())
        keys = sorted(mine.keys() | theirs.keys())
        return [f"{k}: {mine.get(k)!r} here, {theirs.get(k)!r} on chain" for k in keys if mine.get(k) != theirs.get(k)]


def _flat(document: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in document.items():
        if isinstance(value, dict) and value:
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def verify_rules(local: CoalitionRules, on_chain: bytes, store: ContentStore) -> None:
    """Refuses, in one line naming what differs, rules that are not the ones the ledger fixed."""
    if local.digest() == on_chain:
        return
    try:
        theirs = CoalitionRules.from_document(store.get(digest_to_cid(on_chain)))
    except (StoreError, ConfigError):
        raise ConfigError(
            "this node's rules (coalition.json) are not the ones the ledger fixed at deployment, "
            "and the ledger's rules document is not in the store: use the coalition's coalition.json"
        ) from None
    raise ConfigError(
        "this node's rules (coalition.json) differ from the ones the ledger fixed at deployment ("
        + "; ".join(local.differences(theirs))
        + "): use the coalition's coalition.json"
    )
