"""Deploy a coalition's ledger: one ModelLedger (which is also its Coalition)."""

from __future__ import annotations

from dataclasses import dataclass

from eth_account.signers.local import LocalAccount

from tclearn.chain.artifacts import ledger_artifact
from tclearn.chain.backends import Chain
from tclearn.chain.ledger import MODES, Ledger, LedgerParams
from tclearn.chain.revert import ErrorDecoder
from tclearn.chain.transact import send
from tclearn.errors import ChainError


@dataclass(frozen=True)
class Genesis:
    """The model every lineage starts from: its SHA-256, CIDv0 digest, and its metadata's CIDv0 digest."""

    model_hash: bytes
    cid_digest: bytes
    metadata_hash: bytes


@dataclass(frozen=True)
class Deployment:
    ledger: Ledger
    block_number: int
    gas_used: int


def deploy_ledger(
    chain: Chain,
    deployer: LocalAccount,
    params: LedgerParams,
    genesis: Genesis,
    roles: dict[str, list[str]],
) -> Deployment:
    """Deploys the ledger with its first participants, by role, and waits for the receipt."""
    if params.mode not in MODES:
        raise ChainError(f"unknown mode {params.mode!r}: one of {', '.join(MODES)}")
    artifact = ledger_artifact()
    factory = chain.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    constructor = factory.constructor(
        (
            MODES.index(params.mode),
            params.min_batch_size,
            params.proposal_timeout,
            params.vote_timeout,
            params.membership_timeout,
            params.rules_digest,
        ),
        (genesis.model_hash, genesis.cid_digest, genesis.metadata_hash),
        *(roles.get(role, []) for role in ("member", "validator", "supervisor", "auditor")),
    )
    receipt = send(chain, deployer, constructor, ErrorDecoder(artifact.abi))
    if not receipt["contractAddress"]:
        raise ChainError("ledger deployment reverted")
    ledger = Ledger(chain, receipt["contractAddress"])
    return Deployment(ledger, receipt["blockNumber"], receipt["gasUsed"])
