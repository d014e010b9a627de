"""Two participants' CKKS contexts, made once for the module (about a second and 35 MB each)."""

from __future__ import annotations

import numpy as np
import pytest
import tenseal.sealapi as sealapi

from tclearn.he import ckks


@pytest.fixture(scope="package")
def keys() -> list[tuple[ckks.Context, ckks.Context]]:
    """(secret, public) for two participants."""
    pairs = []
    for _ in range(2):
        secret = ckks.generate()
        pairs.append((secret, ckks.load(secret.public_bytes(), secret.fingerprint)))
    return pairs


def all_slots(vector: object, secret: ckks.Context) -> np.ndarray:
    """Every one of a ciphertext's 4,096 slots, decoded below TenSEAL (which shows only the
    vector's size): what a curious supervisor holding the secret key could read."""
    seal_context = secret.context.seal_context().data
    plaintext = sealapi.Plaintext()
    sealapi.Decryptor(seal_context, secret.context.secret_key().data).decrypt(vector.ciphertext()[0], plaintext)
    return np.array(sealapi.CKKSEncoder(seal_context).decode_double(plaintext))
