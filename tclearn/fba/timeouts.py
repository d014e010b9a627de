"""Keeping a stalled round moving: anyone may close an expired candidate or replace a silent general."""

from __future__ import annotations

from eth_account.signers.local import LocalAccount

from tclearn.chain.ledger import Ledger


def nudge(ledger: Ledger, caller: LocalAccount) -> str | None:
    """Expires the open candidate or redraws the general if a deadline has passed; says which."""
    now = ledger.chain.now()
    open_block = ledger.cursor().open
    if open_block:
        if now > ledger.block(open_block).deadline:
            ledger.expire(caller, open_block)
            return "expired"
        return None
    if now > ledger.current_round().deadline:
        ledger.redraw(caller)
        return "redrawn"
    return None
