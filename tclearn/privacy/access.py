"""`tclearn audit access`: who could read which model and update, from the chain and the store
alone, with no key.

Every grant is a wrap of an object's data key in the header of that object, and the chain
commits to the object's SHA-256 in the transaction that proposed the block or registered the
update: the grant's time and transaction are that transaction's. Revocations are the role
revocations the validators' votes executed (`RoleRevoked`). A history grant (a joiner given the
keys of earlier models, `tclearn.privacy.history`) is listed per model, as `"object": "history"`,
with the validator that issued it (`"granted_by"`).
"""

from __future__ import annotations

from typing import Any

from eth_utils import to_checksum_address

from tclearn.chain.ledger import Ledger, Provenance, RoleChange
from tclearn.model.weights import ModelRejected
from tclearn.privacy.envelope import is_sealed, read_header
from tclearn.privacy.history import history_grants
from tclearn.store.base import ContentStore, StoreError, fetch_verified
from tclearn.store.cid import digest_to_cid

ROLE_ORDER = ("validator", "member", "auditor", "supervisor")  # the role a grant is listed under


def access_log(ledger: Ledger, store: ContentStore, names: dict[str, str] | None = None) -> dict[str, Any]:
    """`{"grants": [...], "revocations": [...], "unreadable": [...]}` (see the README)."""
    names = {to_checksum_address(a): n for a, n in (names or {}).items()}
    changes = ledger.role_changes()
    times: dict[int, int] = {}

    def when(chain_block: int) -> int:
        if chain_block not in times:
            times[chain_block] = ledger.block_time(chain_block)
        return times[chain_block]

    grants: list[dict[str, Any]] = []
    unreadable: list[dict[str, Any]] = []
    objects = [("model", r.id, r.cid_digest, r.model_hash, p, {"blocks": [r.id]}) for r, p in ledger.proposals()]
    objects += [
        ("update", r.id, r.cid_digest, r.weights_hash, p, {"blocks": [], "update": r.id, "parent": r.parent})
        for r, p in ledger.registrations()
    ]
    for kind, ident, cid, sha, prov, where in objects:
        try:
            blob = fetch_verified(store, digest_to_cid(cid), sha)
            if not is_sealed(blob):
                unreadable.append({"object": kind, "id": ident, "detail": "stored in clear"})
                continue
            header, _ = read_header(blob)
        except (StoreError, ModelRejected) as exc:
            unreadable.append({"object": kind, "id": ident, "detail": str(exc)})
            continue
        for account in header.grants:
            grants.append(
                {
                    "account": account,
                    "name": names.get(account, ""),
                    "role": _role_at(changes, account, prov),
                    "key_id": header.key_id,
                    **where,
                    "object": kind,
                    "tx": prov.tx,
                    "time": when(prov.chain_block),
                }
            )
    for document, reg in history_grants(ledger, store):
        account = to_checksum_address(document["account"])
        prov = Provenance(reg.tx, reg.chain_block)
        for grant in document["grants"]:
            grants.append(
                {
                    "account": account,
                    "name": names.get(account, ""),
                    "role": _role_at(changes, account, prov),
                    "key_id": grant["key_id"],
                    "blocks": [int(grant["block"])],
                    "object": "history",
                    "granted_by": reg.account,
                    "tx": reg.tx,
                    "time": when(reg.chain_block),
                }
            )
    revocations = [
        {
            "account": c.account,
            "name": names.get(c.account, ""),
            "role": c.role,
            "tx": c.tx,
            "time": when(c.chain_block),
        }
        for c in changes
        if not c.granted
    ]
    return {"grants": grants, "revocations": revocations, "unreadable": unreadable}


def _role_at(changes: list[RoleChange], account: str, at: Provenance) -> str:
    """The role `account` held when the grant was recorded ("" if none: the chain shows it)."""
    held: dict[str, bool] = {}
    for change in changes:
        if change.chain_block > at.chain_block:
            break
        if change.account == account:
            held[change.role] = change.granted
    return next((role for role in ROLE_ORDER if held.get(role)), "")


def render_access(log: dict[str, Any]) -> str:
    lines = [
        f"{g['time']}  {g['name'] or g['account']:<14} {g['role'] or '(no role)':<10} key {g['key_id'][:12]}  "
        + (f"block {g['blocks'][0]}" if g["blocks"] else f"update {g['update']}")
        + f"  tx {g['tx'][:12]}"
        for g in log["grants"]
    ]
    lines += [
        f"{r['time']}  {r['name'] or r['account']:<14} revoked {r['role']}  tx {r['tx'][:12]}"
        for r in log["revocations"]
    ]
    lines += [f"unreadable {u['object']} {u['id']}: {u['detail']}" for u in log["unreadable"]]
    return "\n".join(lines) or "no grants: not a mode-B coalition, or nothing stored yet"
