"""`tclearn audit verify --recompute`: the auditor evaluates each accepted model on its own copy
of G and compares with what each validator that accepted it reported.

A validator's vote carries its G accuracy and loss (`tclearn.fba.metrics`, parts per million).
The same model on the same G gives the same figures on any machine, to rounding; a validator
that reported figures it did not measure, or measured on another G, is named. Mode B's models
open with the auditor's own key; mode C's are encrypted for the supervisor alone, and are not
recomputed.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tclearn.audit.history import Block
from tclearn.audit.trace import MEASURED
from tclearn.audit.verify import Verification
from tclearn.model.family import ModelFamily, State
from tclearn.model.train import outputs, scored

ACCURACY_SLACK = 0.002  # a vote's figures are rounded to millionths; this is rounding, not disagreement
LOSS_SLACK = 0.01  # relative


def recompute(
    blocks: dict[int, Block],
    open_model: Callable[[int], State],
    family: ModelFamily,
    global_test: tuple[np.ndarray, np.ndarray],
    result: Verification,
    from_block: int = 1,
) -> tuple[int, int]:
    """Evaluates every final block from `from_block` on G and flags each accepting vote whose
    G figures disagree (`metrics`); returns how many models were evaluated and how many votes
    compared (a vote measured on a G of another size cannot be)."""
    gx, gy = global_test
    evaluated = compared = 0
    for block in sorted(blocks.values(), key=lambda b: b.id):
        if block.id < from_block or block.state != "final":
            continue
        evaluation = scored(outputs(family.module(open_model(block.id)), gx), gy, family.spec.num_classes)
        evaluated += 1
        for vote in block.votes:
            m = vote.metrics
            if not vote.accept or m is None or m.reason not in MEASURED or m.global_samples != len(gy):
                continue
            compared += 1
            off_accuracy = abs(m.global_accuracy - evaluation.accuracy) > ACCURACY_SLACK
            off_loss = abs(m.global_loss - evaluation.loss) > LOSS_SLACK * max(evaluation.loss, 1e-3)
            if off_accuracy or off_loss:
                result.flag(
                    block.id,
                    "metrics",
                    f"{vote.validator} reported G accuracy {m.global_accuracy:.4f} and loss {m.global_loss:.4f}; "
                    f"the model scores {evaluation.accuracy:.4f} and {evaluation.loss:.4f} on this G",
                )
    return evaluated, compared
