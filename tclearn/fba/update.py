"""One registered update as the checks handle it: its record on chain and its verified tensors."""

from __future__ import annotations

from dataclasses import dataclass

from tclearn.chain.ledger import UpdateRecord
from tclearn.model.family import State


@dataclass(frozen=True)
class Update:
    record: UpdateRecord
    state: State

    @property
    def id(self) -> int:
        return self.record.id

    @property
    def samples(self) -> int:
        return self.record.samples


def ids(updates: list[Update] | tuple[Update, ...]) -> tuple[int, ...]:
    return tuple(u.id for u in updates)
