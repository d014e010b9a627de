"""Encrypted inference for a participant: its copy of a block run on its samples, the outputs
decrypted by the supervisor into labels alone, sealed for it.

A validator asks for its G sample and L under the candidate and its parent (`tclearn.he.voting`,
purpose `tclearn.vote`); a member asks for its own samples under the head (`tclearn model
predict`, purpose `tclearn.predict`). The samples never leave the participant: it multiplies its
encrypted copy by them in clear, and the outputs are encrypted under its own key all the same.
The supervisor answers one batch a block and participant, whatever the purpose (labels of
crafted inputs would teach a participant its copy's weights and mark a batch at a time): a
participant batches its samples, and a new block allows a new batch.
"""

from __future__ import annotations

import numpy as np
from eth_account.signers.local import LocalAccount

from tclearn.engine.steps import Pending
from tclearn.he import ckks, head
from tclearn.he.records import Records
from tclearn.he.supervisor import open_labels
from tclearn.privacy.keys import ParticipantKey
from tclearn.store.cid import cid_digest


def labels_of(
    records: Records, account: LocalAccount, key: ParticipantKey, purpose: str, block: int, samples: np.ndarray
) -> np.ndarray:
    """The supervisor's labels for `samples` under this participant's copy of `block`, once
    answered; until then raises `Pending` (`acted`: the request was just made). The answer to
    an earlier request for the block is read back when it was for these very samples (the same
    copy and samples give byte-identical outputs); for other samples it is refused
    (`already-answered`), as the supervisor would refuse a second batch."""
    mine = records.requests(purpose, account.address, block)
    if mine and mine[-1].answer is None:
        raise Pending(f"the supervisor's labels for block {block}")
    copy = records.copy_of(block, account.address)
    if copy is None:
        raise Pending(f"a copy of block {block}")
    layout, context = records.layout, records.public_context(account.address)
    outputs = head.infer(head.load_copy(copy, context, layout), samples, context, layout)
    digest = cid_digest(records.store.put(outputs))
    if not mine:
        records.ledger.request_decryption(account, purpose, block, digest)
        raise Pending(f"labels for block {block} asked", acted=True)
    if mine[-1].cid_digest != digest:
        raise ckks.HEError("already-answered", f"block {block}'s labels went to another batch: one batch a block")
    labels = open_labels(records.get_json(mine[-1].answer.answer_cid_digest), records, mine[-1], key)
    if len(labels) != len(samples):
        raise ckks.HEError("integrity", f"{len(labels)} labels for {len(samples)} samples")
    return labels
