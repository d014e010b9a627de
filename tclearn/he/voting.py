"""A validator's check in mode C: integrity from the chain, viability by encrypted inference.

What a validator can still check without the model in clear:
- **integrity**: the candidate's parent is the head; its model is the one the supervisor answered
  the general's aggregate request with, for exactly the block's updates; each update is a
  well-formed container under its member's context (as the general checks it);
- **viability**: the candidate's and the parent's predictions on G and on its own L. It runs its
  encrypted copy of each model on its samples (in clear: they never leave it, and the outputs are
  encrypted under its key all the same) and asks the supervisor to decrypt: the answer is the
  predicted labels alone, sealed for it. The vote rule is mode A's (`tclearn.fba.policy`), on
  accuracy: with labels only, a sample's loss is 0 or 1. G is judged on the screening sample
  (512 of G, the same at every node: enough for the sign test to see a 2-point net loss):
  outputs are heavy under CKKS, 4 kB a Fashion-MNIST sample.

Each step acts at most once and says when it waits (`Pending`): for a copy of the candidate, for
the supervisor's answer. A model's labels are kept, so the candidate judged this round is next
round's parent, judged for free.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
from eth_account.signers.local import LocalAccount

from tclearn.fba.context import CoalitionContext
from tclearn.fba.policy import Tolerance
from tclearn.fba.strategy import Strategy
from tclearn.fba.viability import Check, judged, refused
from tclearn.fba.vote import Voter
from tclearn.he import ckks
from tclearn.he.inference import labels_of
from tclearn.he.records import AGGREGATE, VOTE, Records
from tclearn.model.train import Evaluation
from tclearn.privacy.keys import ParticipantKey
from tclearn.store.cid import cid_digest


class EncryptedVoter(Voter):
    """One mode-C validator: its test sets' features and labels, its keys, its progress."""

    def __init__(
        self,
        ctx: CoalitionContext,
        account: LocalAccount,
        records: Records,
        key: ParticipantKey,
        test_sets: tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
        tolerance: Tolerance,
        strategy: Strategy,
        state_path: Path | None = None,
        secret_source: random.Random | None = None,
    ):
        super().__init__(ctx, account, None, strategy, state_path, secret_source)
        self.records, self.key, self.tolerance = records, key, tolerance
        (self.global_x, self.global_y), (self.local_x, self.local_y) = test_sets
        self._labels: dict[int, np.ndarray] = {}

    def check(self, block_id: int) -> Check:
        ledger = self.ctx.ledger
        record = ledger.block_record(block_id)
        if record.parent != ledger.cursor().head:
            return self.refusal("integrity")
        why = self.integrity(block_id)
        if why is not None:
            return self.refusal(why)
        try:
            parent, candidate = self.evaluations(record.parent), self.evaluations(block_id)
        except ckks.HEError as exc:
            return self.refusal(exc.reason)
        return judged(parent, candidate, self.tolerance)

    def refusal(self, reason: str) -> Check:
        return refused(reason, len(self.global_y), len(self.local_y))

    def integrity(self, block_id: int) -> str | None:
        """Why the candidate is not what the supervisor built for its general, if it is not."""
        ledger = self.ctx.ledger
        record = ledger.block_record(block_id)
        answered = [
            self.records.get_json(r.answer.answer_cid_digest)
            for r in self.records.requests(AGGREGATE, record.general, record.parent)
            if r.answer is not None
        ]
        made = any(
            a.get("updates") == list(record.update_ids)
            and a.get("model_hash") == record.model_hash.hex()
            and cid_digest(str(a.get("model_cid"))) == record.cid_digest
            for a in answered
        )
        if not made:
            return "integrity"
        for update_id in record.update_ids:
            update = ledger.update_record(update_id)
            if update.parent != record.parent:
                return "integrity"
            if (why := self.records.integrity(update)) is not None:
                return why
        return None

    def evaluations(self, block_id: int) -> tuple[Evaluation, Evaluation]:
        """The model's results on G and on L, from the supervisor's labels (raises `Pending`
        while they are on their way)."""
        labels = self.labels(block_id)
        g = len(self.global_y)
        classes = self.records.layout.classes
        return _scored(labels[:g], self.global_y, classes), _scored(labels[g:], self.local_y, classes)

    def labels(self, block_id: int) -> np.ndarray:
        if block_id not in self._labels:
            samples = np.vstack([self.global_x, self.local_x])  # in clear: they never leave this node
            self._labels[block_id] = labels_of(self.records, self.account, self.key, VOTE, block_id, samples)
        return self._labels[block_id]


def _scored(predicted: np.ndarray, labels: np.ndarray, classes: int) -> Evaluation:
    correct = predicted == labels
    return Evaluation(correct, (~correct).astype(np.float64), labels, classes)
