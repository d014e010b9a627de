"""The compiled contracts the package ships: what deployment and the bindings read.

Compiling needs Node and the npm compiler, a development step (`tclearn.chain.compile`); the
artifacts it writes ship inside the package, so an installed TCLearn deploys and binds the ledger
without either.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any

from tclearn.errors import ChainError

SHIPPED_DIR = Path(__file__).parent / "artifacts"
SHIPPED = ("ModelLedger", "IModelLedger")  # what is deployed; the API the bindings read


@dataclass(frozen=True)
class Artifact:
    """What deployment and bindings need of one compiled contract."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: str
    deployed_bytecode: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True) + "\n"


@cache
def shipped(name: str) -> Artifact:
    """A shipped artifact by contract name."""
    path = SHIPPED_DIR / f"{name}.json"
    try:
        return Artifact(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError) as exc:
        raise ChainError(f"the package's compiled {name} is missing or damaged ({path}): reinstall TCLearn") from exc


def ledger_artifact() -> Artifact:
    """The one contract a coalition deploys: ModelLedger (which inherits Coalition)."""
    return shipped("ModelLedger")


def ledger_interface() -> Artifact:
    """IModelLedger: the ledger's external API (functions, events, errors), which the bindings and
    outside tools read; any contract implementing it can be bound."""
    return shipped("IModelLedger")
