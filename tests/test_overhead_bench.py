"""The overhead benchmark: a round's phases are all timed, and a sweep can be run in parts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.overhead import markdown, measure, merged, shares
from tclearn.engine.phases import PHASES


@pytest.mark.slow
def test_a_measured_round_accounts_for_every_phase_and_its_gas() -> None:
    row = measure("inprocess:memory", "local", 4, "10k", 1)
    phases = row["phase_seconds_median"]
    assert isinstance(phases, dict)
    assert set(PHASES) <= set(phases), "the engine's steps time every phase"
    assert 0.0 < float(row["ledger_share_median"]) < 1.0
    assert int(row["gas_per_round_median"]) > 100_000, "registrations, a proposal and votes were mined"
    assert 10_000 < int(row["parameters"]) < 12_000
    split = shares([row])
    assert abs(sum(v[0] for v in split.values()) - 1.0) < 1e-9
    assert abs(split["ledger"][0] - float(row["ledger_share_median"])) < 1e-3, "one repeat: the same split"
    header, rule, line = markdown([row]).splitlines()
    assert header.count("|") == rule.count("|") == line.count("|")
    assert line.startswith("| 4 | 11,162 | ") and f"{phases['finality']:.3f}" in line


def test_a_sweep_in_parts_keeps_earlier_rows_and_replaces_remeasured_ones(tmp_path: Path) -> None:
    out = tmp_path / "overhead.json"
    first = [{"validators": v, "model": "10k", "round_seconds_median": 1.0} for v in (4, 10, 25)]
    out.write_text(json.dumps({"rows": first}))
    again = [{"validators": 10, "model": "1m", "round_seconds_median": 2.0}]
    again += [{"validators": 4, "model": "10k", "round_seconds_median": 3.0}]
    rows = merged(out, again)
    assert [(r["validators"], r["model"]) for r in rows] == [(4, "10k"), (10, "10k"), (25, "10k"), (10, "1m")]
    assert rows[0]["round_seconds_median"] == 3.0
