"""The genesis model: the first block of every lineage, stored and hashed like any other."""

from __future__ import annotations

import json
from dataclasses import dataclass

from tclearn.model.architectures import ArchitectureSpec, build
from tclearn.model.weights import serialize, sha256
from tclearn.store.base import ContentStore


@dataclass(frozen=True)
class GenesisArtifacts:
    weights: bytes
    weights_sha256: bytes
    weights_cid: str
    metadata: bytes
    metadata_cid: str


def genesis_metadata(spec: ArchitectureSpec, seed: int) -> bytes:
    """Canonical JSON describing the coalition's model family; its CID digest goes on chain."""
    document = {"architecture": spec.as_dict(), "format": "safetensors", "seed": seed}
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def make_genesis(spec: ArchitectureSpec, seed: int, store: ContentStore) -> GenesisArtifacts:
    """Builds the initial model of `spec` and stores its weights and metadata."""
    weights = serialize(build(spec, seed))
    metadata = genesis_metadata(spec, seed)
    return GenesisArtifacts(
        weights=weights,
        weights_sha256=sha256(weights),
        weights_cid=store.put(weights),
        metadata=metadata,
        metadata_cid=store.put(metadata),
    )
