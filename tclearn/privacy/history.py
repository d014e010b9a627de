"""History for participants who join: the keys of the models finalised before they joined,
wrapped for them, when the coalition's rules say so (`CoalitionRules.joiners_read_history`).

A joiner is granted every model from its joining point on by the ordinary grants of each new
model. For the models before, the drawn general issues one history grant per joiner: a document
that wraps each earlier model's data key for the joiner's registered public key, bound to that
model's context as every wrap is, stored, and recorded on chain with `registerKey` (purpose
`tclearn.history-grant`, the document's SHA-256 as fingerprint). The chain thus says who granted
whom which keys, when; `tclearn audit access` lists them.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from tclearn.chain.ledger import KeyRegistration, Ledger
from tclearn.privacy.envelope import data_key, read_header, wrap_info
from tclearn.privacy.keys import wrap
from tclearn.store.base import ContentStore, StoreError, fetch_verified
from tclearn.store.cid import digest_to_cid

HISTORY_PURPOSE = "tclearn.history-grant"
FORMAT = "tclearn-history-grant/1"


def history_grants(ledger: Ledger, store: ContentStore) -> list[tuple[dict[str, Any], KeyRegistration]]:
    """Every history grant on chain whose document is stored and matches its fingerprint."""
    found = []
    for reg in ledger.key_registrations(HISTORY_PURPOSE):
        try:
            raw = store.get(reg.uri)
            if hashlib.sha256(raw).digest() != reg.fingerprint:
                continue
            document = json.loads(raw)
            if document.get("format") == FORMAT:
                found.append((document, reg))
        except (StoreError, ValueError):
            continue
    return found


def missing_history(vault: Any, readers: set[str]) -> dict[str, list[int]]:
    """Per participant among `readers` with a registered key: the final models of the head's
    lineage whose key it was never granted, by their own grants or by a history grant."""
    ledger, store = vault.ledger, vault.store
    keys = vault.public_keys()
    covered: dict[str, set[int]] = {}
    for document, _ in history_grants(ledger, store):
        covered.setdefault(to_checksum_address(document["account"]), set()).update(
            int(g["block"]) for g in document["grants"]
        )
    missing: dict[str, list[int]] = {}
    for block in reversed(ledger.lineage()[:-1]):  # oldest first, genesis (in clear) left out
        record = ledger.block_record(block)
        header, _ = read_header(fetch_verified(store, digest_to_cid(record.cid_digest), record.model_hash))
        for account in sorted(readers & set(keys)):
            if account not in header.grants and block not in covered.get(account, set()):
                missing.setdefault(account, []).append(block)
    return missing


def issue_history(vault: Any, issuer: LocalAccount, readers: set[str]) -> list[str]:
    """Wraps, for each participant missing some, the keys of the earlier final models; records
    each grant on chain. Returns the accounts granted."""
    ledger, store = vault.ledger, vault.store
    granted = []
    for account, blocks in missing_history(vault, readers).items():
        public = vault.public_keys()[account]
        grants = []
        for block in blocks:
            record = ledger.block_record(block)
            header, _ = read_header(fetch_verified(store, digest_to_cid(record.cid_digest), record.model_hash))
            dek = data_key(header, vault.usable_key(), vault.account)
            wrapped = wrap(header.kem, dek, public, wrap_info(header.key_id, account, header.context))
            grants.append({"block": block, "key_id": header.key_id, "wrap": wrapped.hex()})
        document = json.dumps({"format": FORMAT, "account": account, "grants": grants}, sort_keys=True).encode()
        cid = store.put(document)
        ledger.register_key(issuer, HISTORY_PURPOSE, hashlib.sha256(document).digest(), cid)
        granted.append(account)
    return granted


def history_wrap(vault: Any, key_id: str) -> bytes | None:
    """This participant's wrap of `key_id` from a history grant, if it holds one."""
    for document, _ in history_grants(vault.ledger, vault.store):
        if to_checksum_address(document["account"]) == vault.account:
            for grant in document["grants"]:
                if grant["key_id"] == key_id:
                    return bytes.fromhex(grant["wrap"])
    return None
