"""The soak, short: validator daemons killed at random moments, anvil killed hard twice (once
right after a block became final), the IPFS node killed; the coalition goes on and nothing lies.
`scripts/soak.sh` runs it long (100 kills) and writes docs/RELIABILITY.md's figures."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.soak import MIN_BLOCKS_AFTER, soak

pytestmark = [pytest.mark.slow, pytest.mark.anvil, pytest.mark.ipfs]


def test_a_coalition_survives_crashes_of_its_daemons_its_chain_and_its_store(tmp_path: Path) -> None:
    report = soak(tmp_path / "coalition", kills=1, seed=1)
    assert report.validator_kills == 1 and report.anvil_kills == 2 and report.ipfs_kills == 1
    assert report.anvil_kills_after_final == 1
    assert report.double_votes == 0 and report.votes > 0
    assert report.final_not_in_lineage == 0, "the lineage holds every block the restarted chain holds"
    assert report.blocks_after_last_crash >= MIN_BLOCKS_AFTER
    assert report.daemons_exited == 0, "no daemon exited on its own"
    assert report.submit_failures_not_one_line == 0, report.notes
    assert report.tracebacks == 0 and report.secrets_in_logs == 0
