"""`tclearn audit trace`: the path from the genesis to one model, every step of it on the record.

For each block of the path: its round, its general and the draw that chose it, the updates it
holds (member, samples, where stored, hash), every vote (validator, verdict, the G and L metrics
it reported, transaction, time), and the siblings the coalition refused on the same parent,
with the votes that refused them. The general's reasons for leaving updates out come from the
block's metadata document in the store, when it can be read.
"""

from __future__ import annotations

import time
from typing import Any

from tclearn.audit.history import Block, Draw, History, Vote
from tclearn.errors import TCLearnError
from tclearn.store.base import ContentStore, StoreError, get_json
from tclearn.store.cid import digest_to_cid

# The verdicts a validator reaches after measuring the candidate on G and L: its metrics mean
# something. A refusal for what the block is (integrity, a harmful update, ...) measures nothing.
MEASURED = ("ok", "global-accuracy", "global-loss", "local-accuracy", "local-loss")


class TraceError(TCLearnError):
    """The target names no model on the ledger."""


def resolve(blocks: dict[int, Block], target: str) -> int:
    """A block id, a model's SHA-256 (0x and 64 hex digits) or a CID, to a block id."""
    text = target.strip()
    if text.isdigit():
        if int(text) not in blocks:
            raise TraceError(f"no block {text} on the ledger")
        return int(text)
    for block in blocks.values():
        if text.lower() in ("0x" + block.model_hash.hex(), block.model_hash.hex()):
            return block.id
        if text == digest_to_cid(block.cid_digest):
            return block.id
    raise TraceError(f"no model on the ledger has the SHA-256 or CID {text}")


def trace(
    history: History, target: str, store: ContentStore | None = None, names: dict[str, str] | None = None
) -> dict[str, Any]:
    """The JSON-ready path from the genesis to `target` (see `resolve`)."""
    blocks, updates, names = history.blocks(), history.updates(), names or {}
    chosen = resolve(blocks, target)
    path, current = [], chosen
    while current:
        path.append(blocks[current])
        current = blocks[current].parent
    path.reverse()
    draws = history.draws()
    children: dict[int, list[Block]] = {}
    for block in blocks.values():
        children.setdefault(block.parent, []).append(block)
    on_path = {b.id for b in path}
    steps = []
    for block in path:
        step = _block(block, draws, updates, store, names)
        step["siblings"] = [
            _block(sibling, draws, updates, store, names)
            for sibling in children.get(block.parent, [])
            if sibling.id not in on_path and block.parent
        ]
        steps.append(step)
    return {"target": chosen, "state": blocks[chosen].state, "path": steps}


def _block(
    block: Block, draws: list[Draw], updates: dict[int, Any], store: ContentStore | None, names: dict[str, str]
) -> dict[str, Any]:
    draw = _draw_of(block, draws)
    excluded = excluded_of(block, store)
    return {
        "block": block.id,
        "parent": block.parent,
        "round": block.round,
        "state": block.state,
        "time": block.time,
        "tx": block.tx,
        "model": {"sha256": "0x" + block.model_hash.hex(), "cid": digest_to_cid(block.cid_digest)},
        "general": None
        if draw is None
        else {
            "address": block.general,
            "name": names.get(block.general, ""),
            "attempt": draw.attempt,
            "seat": draw.index + 1,
            "validators": draw.validators,
            "seed": "0x" + draw.seed.hex(),
        },
        "updates": [
            {
                "id": uid,
                "member": updates[uid].member,
                "name": names.get(updates[uid].member, ""),
                "samples": updates[uid].samples,
                "batch_size": updates[uid].batch_size,
                "cid": digest_to_cid(updates[uid].cid_digest),
                "sha256": "0x" + updates[uid].weights_hash.hex(),
            }
            for uid in block.update_ids
            if uid in updates
        ],
        "excluded": excluded,
        "electorate": block.electorate,
        "votes": [_vote(v, names) for v in block.votes],
    }


def _draw_of(block: Block, draws: list[Draw]) -> Draw | None:
    """The draw that chose the block's general: its round's last before the proposal."""
    chosen = [d for d in draws if d.round == block.round and d.chain_block <= block.chain_block]
    return chosen[-1] if chosen and block.round else None


def excluded_of(block: Block, store: ContentStore | None) -> dict[str, str] | None:
    """The updates the general left out, with its reasons (None: the document is unreadable)."""
    if store is None or not block.round:
        return None
    try:
        return dict(get_json(store, block.metadata_hash).get("excluded", {}))
    except (StoreError, ValueError):
        return None


def _vote(vote: Vote, names: dict[str, str]) -> dict[str, Any]:
    m = vote.metrics
    return {
        "validator": vote.validator,
        "name": names.get(vote.validator, ""),
        "accept": vote.accept,
        "reason": None if m is None else m.reason,
        "global": None if m is None else {"accuracy": m.global_accuracy, "loss": m.global_loss, "n": m.global_samples},
        "local": None if m is None else {"accuracy": m.local_accuracy, "loss": m.local_loss, "n": m.local_samples},
        "tx": vote.tx,
        "time": vote.time,
    }


def render_trace(data: dict[str, Any]) -> str:
    """The same path for a person."""
    lines = [f"block {data['target']} ({data['state']}): {len(data['path'])} blocks from the genesis"]
    for step in data["path"]:
        lines += _render_block(step, "")
        for sibling in step["siblings"]:
            lines += _render_block(sibling, "    ")
    return "\n".join(lines)


def _render_block(step: dict[str, Any], indent: str) -> list[str]:
    if step["round"] == 0:
        return [f"{indent}block {step['block']} genesis  model {step['model']['sha256'][:18]}…  {step['model']['cid']}"]
    general = step["general"] or {}
    who = general.get("name") or general.get("address", "?")
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(step["time"]))
    head = (
        f"{indent}block {step['block']} {step['state']:<8} round {step['round']}  {when}  general {who}"
        f" (seat {general.get('seat', '?')} of {general.get('validators', '?')}, attempt {general.get('attempt', '?')})"
        f"  model {step['model']['sha256'][:18]}…  tx {step['tx'][:12]}…"
    )
    lines = [head]
    for u in step["updates"]:
        lines.append(
            f"{indent}  update {u['id']:<4} {u['name'] or u['member']:<14} {u['samples']:>6} samples  {u['cid']}"
        )
    for uid, why in sorted((step["excluded"] or {}).items(), key=lambda item: int(item[0])):
        lines.append(f"{indent}  left out update {uid}: {why}")
    for v in step["votes"]:
        metrics = f"  ({v['reason']})" if v["reason"] else ""
        if v["reason"] in MEASURED:
            metrics = f"  G {v['global']['accuracy']:.3f}  L {v['local']['accuracy']:.3f}{metrics}"
        verdict = "accept" if v["accept"] else "reject"
        lines.append(f"{indent}  {verdict} by {v['name'] or v['validator']:<14}{metrics}  tx {v['tx'][:12]}…")
    return lines
