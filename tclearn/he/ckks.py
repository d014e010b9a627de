"""CKKS contexts for mode C: one per participant, made and kept by the supervisor.

Parameters (TenSEAL 0.3.18 over Microsoft SEAL): polynomial degree N = 8192 (4,096 slots),
coefficient moduli [60, 40, 40, 60] bits (200 bits in all), scale 2^40. They carry a
multiplicative depth of 2, which is what mode C computes: an encrypted head times encrypted
samples, then a plain sum (`tclearn.he.head`); an encrypted head times a member's plain training
map, then the same sum (`tclearn.he.training`). The security level is 128 bits: the Homomorphic
Encryption Standard (Albrecht et al., 2018, table 1) allows at most 218 bits of coefficient
modulus at N = 8192 for 128-bit classical security with a ternary secret, and 200 are used.
NVFlare's defaults ([60, 40, 40], 160 bits) carry one multiplication fewer.

A participant's **public context** holds the public, relinearisation and Galois keys (the sums
rotate): about 35 MB, sent once. It can encrypt and compute, never decrypt: the secret key stays in
the supervisor's **secret context**, serialised only into its encrypted keystore
(`tclearn.he.keystore`). A context is named by its **fingerprint**, the SHA-256 of its public
serialisation; the chain records it, and every ciphertext container names the fingerprint it was
made under (`tclearn.he.wire`), so a ciphertext is never computed on or decrypted under another
participant's key. Same parameters, another key would otherwise decrypt to silent garbage.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import tenseal as ts
import tenseal.sealapi  # registers SEAL's Modulus type, read by `_parse`

from tclearn.errors import TCLearnError

POLY_MODULUS_DEGREE = 8192
COEFF_MOD_BIT_SIZES = (60, 40, 40, 60)
SCALE_BITS = 40
SLOTS = POLY_MODULUS_DEGREE // 2
DEPTH = len(COEFF_MOD_BIT_SIZES) - 2
SECURITY_BITS = 128
MAX_CONTEXT_BYTES = 64 * 1024 * 1024  # a public context with Galois keys is ~35 MB


class HEError(TCLearnError):
    """A ciphertext or context refused, with the reason (`reason`) a vote or a log can name."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass(frozen=True)
class Context:
    """A TenSEAL CKKS context and its fingerprint. `secret` says whether it can decrypt."""

    context: ts.Context
    fingerprint: bytes

    @property
    def secret(self) -> bool:
        return bool(self.context.is_private())

    def public_bytes(self) -> bytes:
        """The serialisation a participant receives: keys to encrypt and compute, no secret key."""
        return _public_bytes(self.context)

    def secret_bytes(self) -> bytes:
        """The serialisation that decrypts (secret, public and relinearisation keys; not the Galois
        keys): only for the supervisor's keystore."""
        if not self.secret:
            raise HEError("no-secret-key", "a participant's context holds no secret key")
        return bytes(
            self.context.serialize(
                save_public_key=True, save_secret_key=True, save_galois_keys=False, save_relin_keys=True
            )
        )

    def require_secret(self) -> None:
        """Refuse, in one clear line, to decrypt with a context that holds no secret key."""
        if not self.secret:
            raise HEError(
                "no-secret-key",
                "this context holds no secret key: in mode C only the supervisor decrypts",
            )

    def __repr__(self) -> str:  # never the key material, in a log or a traceback
        kind = "secret" if self.secret else "public"
        return f"Context({kind}, fingerprint={self.fingerprint.hex()[:16]}…)"


def generate() -> Context:
    """A fresh context with its own secret key, for one participant (the supervisor's side)."""
    context = ts.context(ts.SCHEME_TYPE.CKKS, POLY_MODULUS_DEGREE, coeff_mod_bit_sizes=list(COEFF_MOD_BIT_SIZES))
    context.global_scale = 2**SCALE_BITS
    context.generate_galois_keys()
    context.generate_relin_keys()
    return Context(context, fingerprint(_public_bytes(context)))


def load(data: bytes, expected: bytes | None = None) -> Context:
    """A participant's public context from its serialisation, checked: parameters as above, the
    keys a participant computes with, no secret key, and (given `expected`) the fingerprint the
    chain records for it."""
    context = _parse(data)
    if context.is_private():
        raise HEError("wrong-context", "a participant's context must not hold a secret key")
    if not (context.has_galois_keys() and context.has_relin_keys()):
        raise HEError("wrong-context", "the context lacks its Galois or relinearisation keys")
    loaded = Context(context, fingerprint(data))
    if expected is not None and loaded.fingerprint != expected:
        raise HEError(
            "wrong-context",
            f"fingerprint {loaded.fingerprint.hex()[:16]}… is not the {expected.hex()[:16]}… on record",
        )
    return loaded


def load_secret(data: bytes, fingerprint_: bytes) -> Context:
    """The supervisor's secret context for the participant whose public context has
    `fingerprint_` (kept beside it in the keystore: the secret serialisation leaves out the Galois
    keys, 35 MB that decrypting does not need)."""
    context = _parse(data)
    if not context.is_private():
        raise HEError("no-secret-key", "the keystore's context holds no secret key")
    return Context(context, fingerprint_)


def _parse(data: bytes) -> ts.Context:
    if len(data) > MAX_CONTEXT_BYTES:
        raise HEError("wrong-size", f"a context of {len(data)} bytes is over {MAX_CONTEXT_BYTES}")
    try:
        context = ts.context_from(data)
    except (ValueError, RuntimeError, TypeError) as exc:
        raise HEError("malformed", f"not a TenSEAL context ({exc})") from exc
    params = context.seal_context().data.key_context_data().parms()
    moduli = tuple(m.bit_count() for m in params.coeff_modulus())
    if params.poly_modulus_degree() != POLY_MODULUS_DEGREE or moduli != COEFF_MOD_BIT_SIZES:
        raise HEError(
            "wrong-context",
            f"parameters N={params.poly_modulus_degree()} moduli={list(moduli)}, "
            f"expected N={POLY_MODULUS_DEGREE} moduli={list(COEFF_MOD_BIT_SIZES)}",
        )
    context.global_scale = 2**SCALE_BITS
    return context


def fingerprint(public: bytes) -> bytes:
    return hashlib.sha256(public).digest()


def _public_bytes(context: ts.Context) -> bytes:
    return bytes(
        context.serialize(save_public_key=True, save_secret_key=False, save_galois_keys=True, save_relin_keys=True)
    )
