"""The one container every mode-C ciphertext travels in: copies of the head, encrypted samples,
encrypted outputs, encrypted updates, masks' corrections.

    b"TCLHE\\x01" | u32 header length | header (JSON) | (u32 length | CKKS vector)*

The header names what the container holds (`kind`), the fingerprint of the context it was
made under, how many vectors it holds and their size, and what the kind needs besides (a copy's
block and layout, an update's round). `unpack` checks all of it before any vector is handed to
TenSEAL, then each vector's size, level and scale: a ciphertext under another context, of another
shape, or at another scale is refused with a reason (`wrong-context`, `wrong-size`,
`wrong-scale`), bytes that do not parse with `malformed`. TenSEAL itself would add
ciphertexts of other scales with an error, but multiply them into silent garbage, and decrypt a
ciphertext under a key of the same parameters into garbage too.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import tenseal as ts

from tclearn.he.ckks import COEFF_MOD_BIT_SIZES, SCALE_BITS, Context, HEError

MAGIC = b"TCLHE\x01"
MAX_HEADER = 64 * 1024
MAX_VECTOR_BYTES = 1024 * 1024  # a fresh 4,096-slot vector serialises to ~330 kB
KINDS = ("copy", "samples", "outputs", "update", "correction")
FRESH_LEVEL = len(COEFF_MOD_BIT_SIZES) - 1  # primes a fresh ciphertext carries (the last is special)


@dataclass(frozen=True)
class Container:
    kind: str
    fingerprint: bytes
    meta: dict[str, Any]
    vectors: list[ts.CKKSVector]


def pack(kind: str, context: Context, vectors: Sequence[ts.CKKSVector], **meta: Any) -> bytes:
    """The container of `vectors`, all made under `context`."""
    header = {
        "kind": kind,
        "fingerprint": context.fingerprint.hex(),
        "count": len(vectors),
        "size": vectors[0].size() if vectors else 0,
        **meta,
    }
    encoded = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    parts = [MAGIC, struct.pack(">I", len(encoded)), encoded]
    for vector in vectors:
        data = vector.serialize()
        parts += [struct.pack(">I", len(data)), data]
    return b"".join(parts)


def header(data: bytes) -> dict[str, Any]:
    """The header alone (what a container says it is), or `malformed`."""
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + 4:
        raise HEError("malformed", "not a TCLearn ciphertext container")
    (length,) = struct.unpack_from(">I", data, len(MAGIC))
    if length > MAX_HEADER or len(MAGIC) + 4 + length > len(data):
        raise HEError("malformed", "the container's header is cut short or oversized")
    try:
        document = json.loads(data[len(MAGIC) + 4 : len(MAGIC) + 4 + length])
        fields = (
            document["kind"],
            bytes.fromhex(document["fingerprint"]),
            int(document["count"]),
            int(document["size"]),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise HEError("malformed", f"the container's header does not read ({exc})") from exc
    if fields[0] not in KINDS:
        raise HEError("malformed", f"unknown kind {fields[0]!r}")
    return dict(document)


def rebind(data: bytes, fingerprint: bytes) -> bytes:
    """The same container, its header naming another context: for the supervisor's trial
    decryption (`tclearn.he.trace`), which must not trust a header its holder could rewrite."""
    document = header(data)
    end = len(MAGIC) + 4 + struct.unpack_from(">I", data, len(MAGIC))[0]
    encoded = json.dumps({**document, "fingerprint": fingerprint.hex()}, sort_keys=True, separators=(",", ":")).encode()
    return MAGIC + struct.pack(">I", len(encoded)) + encoded + data[end:]


def unpack(data: bytes, context: Context, kind: str, count: int, size: int, level: int) -> Container:
    """The container's vectors, checked against what the caller expects: its `kind`, made under
    `context`, `count` vectors of `size` slots at `level` primes and the coalition's scale."""
    document = header(data)
    if document["kind"] != kind:
        raise HEError("malformed", f"a {document['kind']} where a {kind} was expected")
    found = bytes.fromhex(document["fingerprint"])
    if found != context.fingerprint:
        raise HEError(
            "wrong-context",
            f"made under context {found.hex()[:16]}…, not this participant's {context.fingerprint.hex()[:16]}…",
        )
    if document["count"] != count or document["size"] != size:
        raise HEError("wrong-size", f"{document['count']} vectors of {document['size']}, expected {count} of {size}")
    offset = len(MAGIC) + 4 + struct.unpack_from(">I", data, len(MAGIC))[0]
    vectors = []
    for _ in range(count):
        if offset + 4 > len(data):
            raise HEError("malformed", "the container is cut short")
        (length,) = struct.unpack_from(">I", data, offset)
        if length > MAX_VECTOR_BYTES or offset + 4 + length > len(data):
            raise HEError("wrong-size", f"a vector of {length} bytes is cut short or over {MAX_VECTOR_BYTES}")
        vectors.append(_vector(context, data[offset + 4 : offset + 4 + length], size, level))
        offset += 4 + length
    if offset != len(data):
        raise HEError("malformed", f"{len(data) - offset} bytes after the last vector")
    meta = {k: v for k, v in document.items() if k not in ("kind", "fingerprint", "count", "size")}
    return Container(kind, found, meta, vectors)


def _vector(context: Context, data: bytes, size: int, level: int) -> ts.CKKSVector:
    try:
        vector = ts.ckks_vector_from(context.context, data)
    except (ValueError, RuntimeError, TypeError) as exc:
        raise HEError("malformed", f"a vector does not parse under this context ({exc})") from exc
    ciphertexts = vector.ciphertext()
    if vector.size() != size or len(ciphertexts) != 1:
        raise HEError("wrong-size", f"a vector of {vector.size()} slots, expected {size}")
    ciphertext = ciphertexts[0]
    if ciphertext.size() != 2:  # two polynomials: relinearised
        raise HEError("wrong-size", f"a ciphertext of {ciphertext.size()} polynomials, expected 2")
    if ciphertext.coeff_modulus_size() != level:
        raise HEError("wrong-scale", f"a ciphertext at level {ciphertext.coeff_modulus_size()}, expected {level}")
    if not math.isclose(math.log2(ciphertext.scale), SCALE_BITS, abs_tol=0.01):
        raise HEError(
            "wrong-scale", f"a ciphertext at scale 2^{math.log2(ciphertext.scale):.2f}, expected 2^{SCALE_BITS}"
        )
    return vector
