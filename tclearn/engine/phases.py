"""Where a step's time goes: the engine's steps name their phases, and whoever wants the
figures (the overhead benchmark) passes a `Stopwatch`; everyone else passes nothing."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

# `polling`: the chain reads each pass makes to learn whether it has something to do.
PHASES = (
    "training",
    "storage",
    "registration",
    "polling",
    "draw",
    "candidate",
    "proposal",
    "validation",
    "votes",
    "finality",
)


class Phases:
    """Times nothing: the default."""

    @contextmanager
    def __call__(self, phase: str) -> Iterator[None]:
        yield

    def add(self, phase: str, seconds: float) -> None:
        """Books time measured before its phase was known (a vote is finality only once cast)."""


class Stopwatch(Phases):
    """Adds up the wall time spent in each phase."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    @contextmanager
    def __call__(self, phase: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] += time.perf_counter() - start

    def add(self, phase: str, seconds: float) -> None:
        self.seconds[phase] += seconds


NO_PHASES = Phases()
