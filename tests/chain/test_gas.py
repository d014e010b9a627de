"""The ledger's gas budget: the targets hold and no operation grows with the validator count.

Costs may differ by a few dozen gas between runs (zero bytes in hashes and the drawn seat
cost less calldata and log data); growth with n would show as thousands.
"""

from __future__ import annotations

import pytest

from benchmarks.gas import TARGETS, measure

JITTER = 500


@pytest.mark.slow
def test_gas_targets_hold_and_do_not_depend_on_n() -> None:
    small, large = measure(4), measure(10)
    for operation, limit in TARGETS.items():
        assert small[operation] <= limit, f"{operation} costs {small[operation]} gas, target {limit}"
    for operation in ("register_update", "propose", "propose_10_updates", "vote", "finalizing_vote"):
        assert abs(small[operation] - large[operation]) <= JITTER, f"{operation} grows with the number of validators"
