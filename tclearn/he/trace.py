"""Whose copy is this? (`tclearn audit whose`)

An exact copy is found from the chain alone: its SHA-256 is in a `CopyIssued` record, which names
the participant, the block and the context's fingerprint. A copy that was re-randomised (an
encryption of zero added: every byte changes, it still decrypts to the same model) is found by
the supervisor, by trial decryption: under each participant's secret key, the copy's mark lane
is compared with the mark drawn for every copy issued to that participant (`tclearn.he.head`).
Under the holder's key the mark matches all its ±1 signs; under any other key, about half.
The header's fingerprint is only a hint: a holder may rewrite it, so every key is tried.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass

from tclearn.chain.ledger import Ledger
from tclearn.he import ckks, head, wire
from tclearn.he.keystore import SupervisorKeystore
from tclearn.he.supervisor import copy_id

MATCH = 0.9  # share of the mark's signs that identifies a copy (chance: 0.5, over 256+ signs)


@dataclass(frozen=True)
class Holder:
    participant: str
    block: int
    fingerprint: str
    copy_hash: str  # of the copy as issued
    tx: str  # the transaction that recorded the issue
    how: str  # "hash": found on chain; "mark": by trial decryption
    match: float  # share of the mark reproduced (1.0 for an exact copy)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def whose(
    ledger: Ledger, data: bytes, keystore: SupervisorKeystore | None = None, layout: head.HeadLayout | None = None
) -> Holder | None:
    """The participant and block a copy was issued for, or None if nothing on record matches.
    Without the supervisor's keystore only exact copies are found."""
    digest = hashlib.sha256(data).digest()
    issued = ledger.copies_issued()
    for record in issued:
        if record.copy_hash == digest:
            return Holder(
                record.participant, record.block, record.fingerprint.hex(), digest.hex(), record.tx, "hash", 1.0
            )
    if keystore is None or layout is None:
        return None
    hinted = bytes.fromhex(wire.header(data)["fingerprint"])  # malformed bytes are refused here
    participants = sorted(keystore.fingerprints, key=lambda p: keystore.fingerprints[p] != hinted)
    for participant in participants:
        secret = keystore.context(participant)
        try:
            _, lane = head.decrypt_copy(wire.rebind(data, secret.fingerprint), secret, layout)
        except ckks.HEError:
            continue
        best = max(
            (
                (
                    head.mark_matches(
                        lane, head.draw_mark(keystore.mark_key, copy_id(ledger.address, r.block, participant), layout)
                    ),
                    r,
                )
                for r in issued
                if r.participant == participant
            ),
            default=None,
            key=lambda pair: pair[0],
        )
        if best is not None and best[0] >= MATCH:
            share, record = best
            return Holder(
                participant, record.block, record.fingerprint.hex(), record.copy_hash.hex(), record.tx, "mark", share
            )
    return None
