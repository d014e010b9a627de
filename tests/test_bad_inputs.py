"""Every bad input of docs/RELIABILITY.md's table, as users bring it: one line, a non-zero exit,
the reason in it; never a traceback, never a silent acceptance."""

from __future__ import annotations

from collections import Counter

import pytest

from benchmarks.bad_inputs import catalogue, run_all

pytestmark = pytest.mark.slow  # 77 commands, each on its own copy of a coalition


def test_every_bad_input_is_refused_in_one_line_with_its_reason() -> None:
    outcomes = run_all()
    failing = [o for o in outcomes if not o.held]
    assert failing == [], failing
    assert len(outcomes) >= 60
    kinds = Counter(o.kind for o in outcomes)
    assert set(kinds) == {"model file", "CSV", "config", "ledger", "password", "directory"}
    assert kinds["model file"] >= 11, "the eleven kinds of bad model file the issue names, and more"


def test_the_catalogue_names_each_input_once() -> None:
    names = [(case.kind, case.what) for case in catalogue()]
    assert len(names) == len(set(names))
