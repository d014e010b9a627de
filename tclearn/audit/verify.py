"""`tclearn audit verify`: re-derive everything that can be re-derived, and name what disagrees.

Trust no node: the chain's events are replayed (`tclearn.audit.history`) and every rule the
contract applied is applied again: each vote came from a validator seated at that moment, once,
before the block's deadline, while the block was open; each outcome is the 2/3 rule on the votes
counted; each general is the draw of the seed replayed from the genesis and the revealed
secrets, over the seats replayed from their events; each block extends the head of its moment
and holds only updates trained on it. Every stored object is fetched and must hash back to its
CID and to the SHA-256 the chain committed to. The coalition's settings document must be the
one the ledger fixed at deployment. In mode B each key grant must go to a participant of its
moment; in mode C each copy to a participant holding a context, and each decryption answered
by a supervisor, once, with its answer in the store.

A problem names its block (None: the coalition as a whole), its kind and what was found.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from tclearn.audit.history import Block, History
from tclearn.errors import ConfigError
from tclearn.fba.draw import commitment, draw_index, genesis_seed, mix
from tclearn.fba.quorum import threshold, unreachable
from tclearn.rules import CoalitionRules
from tclearn.store.base import ContentStore, StoreError, fetch_verified
from tclearn.store.cid import digest_to_cid

READERS = 8  # store reads in flight at once: parallel, and bounded so a node is not flooded
ZERO32 = b"\0" * 32


@dataclass(frozen=True)
class Problem:
    block: int | None
    kind: str
    detail: str


@dataclass(frozen=True)
class Stored:
    """An object the chain commits to: where it is, what it must hash to, whose it is."""

    block: int | None
    what: str  # "model of block 4", "update 12", ...
    cid_digest: bytes
    sha256: bytes | None  # None: only its CID is committed (a JSON document, a context)


@dataclass
class Verification:
    blocks: int = 0
    objects_checked: int = 0
    problems: list[Problem] = field(default_factory=list)
    recomputed: tuple[int, int] | None = None  # with --recompute: models evaluated, votes compared

    @property
    def ok(self) -> bool:
        return not self.problems

    def flag(self, block: int | None, kind: str, detail: str) -> None:
        self.problems.append(Problem(block, kind, detail))

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "ok": self.ok,
            "blocks": self.blocks,
            "objects_checked": self.objects_checked,
            "problems": [asdict(p) for p in self.problems],
        }
        if self.recomputed is not None:
            data["recomputed"] = {"models": self.recomputed[0], "votes_compared": self.recomputed[1]}
        return data


def verify(
    history: History,
    store: ContentStore,
    rules: CoalitionRules | None = None,
    from_block: int = 1,
) -> Verification:
    """Every check on the history (blocks numbered `from_block` and after; the replays that
    decide them start at the genesis), its stored objects and, given the coalition's local
    settings document (`rules`), that document."""
    result = Verification()
    blocks = history.blocks()
    result.blocks = sum(1 for b in blocks if b >= from_block)
    check_settings(history, store, rules, result)
    check_votes_and_outcomes(history, blocks, from_block, result)
    check_draws_and_links(history, blocks, from_block, result)
    check_objects(history, store, objects(history, blocks, from_block), result)
    if history.params.mode == "C":
        check_supervision(history, blocks, from_block, result)
    result.problems.sort(key=lambda p: (p.block or 0, p.kind))
    return result


# ---------------------------------------------------------------------------- the settings


def check_settings(history: History, store: ContentStore, local: CoalitionRules | None, result: Verification) -> None:
    """The settings document the ledger fixed at deployment (with the genesis, block 1) is in the
    store, and the coalition's own copy is that document."""
    on_chain = history.params.rules_digest
    if on_chain != ZERO32:
        _fetch(store, Stored(1, "settings document", on_chain, None), {}, result)
    if local is None or local.digest() == on_chain:
        return
    try:
        differs = "; ".join(local.differences(CoalitionRules.from_document(store.get(digest_to_cid(on_chain)))))
    except (StoreError, ConfigError):
        differs = "the ledger's document cannot be read to say how"
    result.flag(1, "settings", f"the coalition's settings are not the ones the ledger fixed at deployment: {differs}")


# ---------------------------------------------------------------------------- votes and outcomes


def check_votes_and_outcomes(history: History, blocks: dict[int, Block], from_block: int, result: Verification) -> None:
    """Each vote from a validator seated when it was cast, once per block, before the block's
    deadline and while it was open; each outcome the 2/3 rule on the votes counted."""
    closed: set[int] = set()
    voted: set[tuple[int, str]] = set()
    for event, seated in history.seats():
        a = event.args
        if event.name in ("BlockFinalized", "BlockRejected", "BlockExpired"):
            closed.add(a["id"])
        if event.name != "VoteCast" or a["id"] < from_block:
            continue
        block, who = a["id"], a["validator"]
        if block not in blocks or blocks[block].state == "genesis":
            result.flag(block, "vote", f"a vote by {who} on a block that was never proposed")
            continue
        if who not in seated:
            result.flag(block, "vote", f"a vote by {who}, who held no validator seat when it was cast")
        if (block, who) in voted:
            result.flag(block, "vote", f"{who} voted twice")
        voted.add((block, who))
        if block in closed:
            result.flag(block, "vote", f"a vote by {who} after the block closed")
        if history.time(event) > blocks[block].deadline:
            result.flag(block, "vote", f"a vote by {who} after the block's deadline")
    for block in blocks.values():
        if block.id >= from_block and block.state != "genesis":
            _check_outcome(history, block, result)


def _check_outcome(history: History, block: Block, result: Verification) -> None:
    accepts, rejects, n = block.accepts, block.rejects, block.electorate
    if block.closed is not None and (block.closed.args["accepts"], block.closed.args["rejects"]) != (accepts, rejects):
        result.flag(
            block.id,
            "quorum",
            f"closed with {block.closed.args['accepts']} accepts / {block.closed.args['rejects']} rejects, "
            f"but {accepts} / {rejects} votes were cast",
        )
    expected = (
        "final"
        if accepts >= threshold(n)
        else "rejected"
        if unreachable(n, rejects)
        else "expired"
        if block.closed is not None
        else "pending"
    )
    if block.state != expected:
        result.flag(
            block.id,
            "quorum",
            f"{block.state}, but {accepts} accepts and {rejects} rejects of {n} make it {expected}",
        )
    if block.state == "expired" and block.closed is not None and history.time(block.closed) <= block.deadline:
        result.flag(block.id, "quorum", "expired before its deadline")


# ---------------------------------------------------------------------------- draws and parent links


def check_draws_and_links(history: History, blocks: dict[int, Block], from_block: int, result: Verification) -> None:
    """Replays the seed from the genesis and every revealed secret, and checks each round's
    general against it and the seats of the moment; each proposal against its round and the
    head of the moment; each block's updates against its parent."""
    genesis = blocks.get(1)
    if genesis is None:
        result.flag(1, "lineage", "no genesis block on the ledger")
        return
    seed = genesis_seed(history.chain_id, history.ledger, genesis.model_hash)
    commitments: dict[str, bytes] = {}
    updates = history.updates()
    of_round: dict[int, int] = {}  # a round's first block: where a bad draw is reported
    for block in sorted(blocks.values(), key=lambda b: b.id):
        of_round.setdefault(block.round, block.id)
    head, general, round_number = 1, "", 0
    for event, seated in history.seats():
        a = event.args
        if event.name == "ValidatorUnseated":
            commitments.pop(a["validator"], None)  # a seat left is a commitment forgotten
        elif event.name == "VoteCast":
            who, reveal = a["validator"], bytes(a["reveal"])
            if reveal != ZERO32:
                if commitment(who, reveal)[:31] != commitments.get(who, b"")[:31] or who not in commitments:
                    result.flag(a["id"], "draw", f"{who} revealed a secret that is not the one it committed to")
                seed = mix(seed, reveal)
            commitments[who] = bytes(a["nextCommit"])
        elif event.name == "RoundOpened":
            round_number, general = a["round"], a["general"]
            _check_draw(a, seed, seated, result, of_round.get(round_number))
        elif event.name == "BlockFinalized":
            head = a["id"]
        elif event.name == "BlockProposed" and a["id"] >= from_block:
            _check_proposal(blocks[a["id"]], head, general, round_number, updates, result)


def _check_draw(a: dict[str, Any], seed: bytes, seated: list[str], result: Verification, block: int | None) -> None:
    if bytes(a["seed"]) != seed:
        result.flag(block, "draw", f"round {a['round']} was drawn from a seed the reveals do not give")
        return
    if not seated:
        result.flag(block, "draw", f"round {a['round']} was drawn with no validator seated")
        return
    index = draw_index(seed, a["round"], a["attempt"], len(seated))
    if a["index"] != index or a["general"] != seated[index]:
        result.flag(
            block,
            "draw",
            f"round {a['round']} attempt {a['attempt']}: general {a['general']} at seat {a['index'] + 1}, "
            f"the draw gives {seated[index]} at seat {index + 1}",
        )


def _check_proposal(
    block: Block, head: int, general: str, round_number: int, updates: dict[int, Any], result: Verification
) -> None:
    if block.parent != head:
        result.flag(block.id, "lineage", f"extends block {block.parent}, the head was block {head}")
    if block.general != general or block.round != round_number:
        result.flag(block.id, "draw", f"proposed by {block.general} in round {block.round}, not the round's general")
    if list(block.update_ids) != sorted(set(block.update_ids)) or not block.update_ids:
        result.flag(block.id, "lineage", "its updates are not listed once each, in ascending order")
    for uid in block.update_ids:
        update = updates.get(uid)
        if update is None or update.chain_block > block.chain_block:
            result.flag(block.id, "lineage", f"update {uid} was not registered before the block")
        elif update.parent != block.parent:
            result.flag(block.id, "lineage", f"update {uid} was trained on block {update.parent}, not its parent")


# ---------------------------------------------------------------------------- stored objects


def objects(history: History, blocks: dict[int, Block], from_block: int) -> list[Stored]:
    """Every object the chain commits to for blocks numbered `from_block` and after."""
    found = []
    for block in blocks.values():
        if block.id < from_block:
            continue
        found.append(Stored(block.id, f"model of block {block.id}", block.cid_digest, block.model_hash))
        if block.metadata_hash != ZERO32:
            found.append(Stored(block.id, f"metadata of block {block.id}", block.metadata_hash, None))
    in_block = {uid: b.id for b in blocks.values() for uid in b.update_ids}
    for update in history.updates().values():
        if update.parent >= from_block:
            block = in_block.get(update.id, update.parent)
            found.append(Stored(block, f"update {update.id}", update.cid_digest, update.weights_hash))
    for e in history.of("CopyIssued"):
        if e.args["blockId"] >= from_block:
            copy = f"copy of block {e.args['blockId']} issued to {e.args['participant']}"
            found.append(Stored(e.args["blockId"], copy, bytes(e.args["cidDigest"]), bytes(e.args["copyHash"])))
    for e in history.of("ContextIssued"):
        found.append(Stored(None, f"context of {e.args['participant']}", bytes(e.args["cidDigest"]), None))
    for e in history.of("Decrypted"):
        answer = f"answer to decryption request {e.args['requestId']}"
        found.append(Stored(None, answer, bytes(e.args["answerCid"]), None))
    return found


def check_objects(history: History, store: ContentStore, stored: list[Stored], result: Verification) -> None:
    """Fetches every object, `READERS` at a time, and checks its CID and SHA-256."""
    owners = {digest_to_cid(s.cid_digest): s.what for s in stored}
    with ThreadPoolExecutor(max_workers=READERS) as pool:
        list(pool.map(lambda s: _fetch(store, s, owners, result), stored))
    result.objects_checked += len(stored)


def _fetch(store: ContentStore, stored: Stored, owners: dict[str, str], result: Verification) -> None:
    cid = digest_to_cid(stored.cid_digest)
    try:
        if stored.sha256 is None:
            store.get(cid)
        else:
            fetch_verified(store, cid, stored.sha256)
    except StoreError as exc:
        if exc.reason == "missing":
            result.flag(stored.block, "object-missing", f"the {stored.what} ({cid}) is not in the store")
        elif exc.reason == "altered" and exc.actual in owners:
            result.flag(
                stored.block, "object-swapped", f"the {stored.what} ({cid}) holds the bytes of the {owners[exc.actual]}"
            )
        elif exc.reason in ("altered", "hash"):
            result.flag(stored.block, "object-altered", f"the {stored.what} ({cid}) is not what the chain committed to")
        else:
            result.flag(stored.block, "object-unreadable", f"the {stored.what} ({cid}): {exc}")


# ---------------------------------------------------------------------------- mode C's records


def check_supervision(history: History, blocks: dict[int, Block], from_block: int, result: Verification) -> None:
    """Each copy issued to a participant holding a context: of a final model, or of a candidate
    to a validator of the moment (it votes on its copy, and a refused candidate keeps them);
    each decryption answered by a supervisor of the moment, once."""
    contexts: set[str] = set()
    answered: set[int] = set()
    requests: set[int] = set()
    for event, roles in history.roles():
        a = event.args
        if event.name == "ContextIssued":
            contexts.add(a["participant"])
        elif event.name == "CopyIssued" and a["blockId"] >= from_block:
            block = blocks.get(a["blockId"])
            voting = a["participant"] in roles["validator"] and block is not None
            if not voting and (block is None or block.state not in ("final", "genesis")):
                result.flag(a["blockId"], "copy", f"a copy issued to {a['participant']} of a model that is not final")
            if a["participant"] not in contexts:
                result.flag(a["blockId"], "copy", f"a copy issued to {a['participant']}, who holds no context")
        elif event.name == "DecryptionRequested":
            requests.add(a["requestId"])
        elif event.name == "Decrypted":
            request = a["requestId"]
            if request not in requests or request in answered:
                result.flag(None, "decryption", f"request {request} answered without being asked, or twice")
            if a["supervisor"] not in roles["supervisor"]:
                result.flag(None, "decryption", f"request {request} answered by {a['supervisor']}, not a supervisor")
            answered.add(request)
