"""What `tclearn status` reports: the ledger's head, round, open candidate and its votes."""

from __future__ import annotations

from typing import Any

from tclearn.chain.ledger import Ledger
from tclearn.config import CoalitionConfig
from tclearn.fba.quorum import threshold


def coalition_status(config: CoalitionConfig, ledger: Ledger) -> dict[str, Any]:
    """A JSON-ready snapshot; names come from the config where an address is one of ours."""
    names = {p.address: name for name, p in config.participants.items()}
    cursor = ledger.cursor()
    head = ledger.block(cursor.head)
    round_ = ledger.current_round()
    validators = ledger.validators()
    candidate = None
    if cursor.open:
        block = ledger.block(cursor.open)
        candidate = {
            "id": block.id,
            "parent": block.parent,
            "model_hash": "0x" + block.model_hash.hex(),
            "state": block.state.name.lower(),
            "accepts": block.accepts,
            "rejects": block.rejects,
            "electorate": block.electorate,
            "quorum": threshold(block.electorate),
            "deadline": block.deadline,
            "votes": [
                {"validator": v["validator"], "name": names.get(v["validator"]), "accept": v["accept"]}
                for v in ledger.votes(block.id)
            ],
        }
    params = ledger.params()
    round_info: dict[str, Any] = {
        "number": round_.number,
        "attempt": round_.attempt,
        "general": round_.general,
        "general_name": names.get(round_.general),
        "deadline": round_.deadline,
    }
    if params.mode == "C":  # secure aggregation's roster of this attempt (`tclearn.he.general`)
        registered = [u.member for u in ledger.masked_updates(round_)]
        round_info["roster"] = {
            "closed": ledger.roster_closed(round_),
            "registered": [{"member": m, "name": names.get(m)} for m in registered],
        }
    return {
        "coalition": config.name,
        "mode": params.mode,
        "rules_digest": "0x" + params.rules_digest.hex(),
        "chain": {"url": ledger.chain.url, "chain_id": ledger.chain.chain_id, "now": ledger.chain.now()},
        "ledger": ledger.address,
        "head": {"id": head.id, "parent": head.parent, "model_hash": "0x" + head.model_hash.hex()},
        "round": round_info,
        "candidate": candidate,
        "validators": [{"address": v, "name": names.get(v)} for v in validators],
        "counts": {"blocks": cursor.block_count, "updates": cursor.update_count, "validators": len(validators)},
    }


def render_status(data: dict[str, Any]) -> str:
    """The same snapshot for a person."""
    round_, head, now = data["round"], data["head"], data["chain"]["now"]
    general = round_["general_name"] or round_["general"]
    lines = [
        f"coalition {data['coalition']} (mode {data['mode']}) · ledger {data['ledger']}",
        f"chain {data['chain']['url']} (id {data['chain']['chain_id']})",
        f"head      block {head['id']} (parent {head['parent']}) model {head['model_hash'][:18]}…",
        f"round     {round_['number']} attempt {round_['attempt']}: general {general}, "
        f"proposal deadline {_until(round_['deadline'], now)}",
    ]
    if (roster := round_.get("roster")) is not None:
        who = ", ".join(r["name"] or r["member"] for r in roster["registered"]) or "none yet"
        lines.append(f"roster    {'closed' if roster['closed'] else 'open'}: updates from {who}")
    candidate = data["candidate"]
    if candidate is None:
        lines.append("candidate none open")
    else:
        lines.append(
            f"candidate block {candidate['id']} ({candidate['state']}): {candidate['accepts']} accept / "
            f"{candidate['rejects']} reject of {candidate['electorate']}, final at {candidate['quorum']}, "
            f"voting closes {_until(candidate['deadline'], now)}"
        )
        lines += [
            f"          {'accept' if v['accept'] else 'reject'} by {v['name'] or v['validator']}"
            for v in candidate["votes"]
        ]
    counts = data["counts"]
    lines.append(f"counts    {counts['blocks']} blocks, {counts['updates']} updates, {counts['validators']} validators")
    return "\n".join(lines)


def _until(deadline: int, now: int) -> str:
    delta = deadline - now
    return f"in {delta} s" if delta >= 0 else f"passed {-delta} s ago"
