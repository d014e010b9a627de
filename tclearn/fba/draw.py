"""The general draw, recomputed off chain exactly as `GeneralDraw.sol` computes it.

Auditors and tests use it to check that every round's general is the one the seed and the
validator list dictate.
"""

from __future__ import annotations

from eth_abi import encode
from eth_utils import keccak


def genesis_seed(chain_id: int, ledger: str, genesis_model: bytes) -> bytes:
    return keccak(encode(["uint256", "address", "bytes32"], [chain_id, ledger, genesis_model]))


def commitment(validator: str, secret: bytes) -> bytes:
    """What a validator publishes now for the `secret` it reveals at its next vote."""
    return keccak(encode(["address", "bytes32"], [validator, secret]))


def mix(seed: bytes, secret: bytes) -> bytes:
    """Folds one revealed secret into the running seed."""
    return keccak(encode(["bytes32", "bytes32"], [seed, secret]))


def draw_index(seed: bytes, round_number: int, attempt: int, n: int) -> int:
    """Position of the round's general in the validator list of length `n`."""
    return int.from_bytes(keccak(encode(["bytes32", "uint256", "uint256"], [seed, round_number, attempt])), "big") % n
