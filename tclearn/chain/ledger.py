"""Typed bindings of the ModelLedger contract: the only module that knows its ABI by name.

Every transaction goes through `Ledger.transact`: build (which simulates it, so a refusal
surfaces before anything is signed), sign locally, send through the chain backend, and turn
any revert into `TransactionReverted` with the contract's own error name.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from eth_abi import decode as abi_decode
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address
from web3.contract import Contract
from web3.logs import DISCARD
from web3.types import TxReceipt

from tclearn.chain.artifacts import Artifact, ledger_interface
from tclearn.chain.backends import Chain
from tclearn.chain.revert import ErrorDecoder
from tclearn.chain.transact import send
from tclearn.errors import ChainError

ROLES = ("member", "validator", "supervisor", "auditor")
BATCH = 500  # chain blocks whose timestamps one batch of JSON-RPC requests asks for
LOG_SPAN = 50_000  # chain blocks one `eth_getLogs` covers when every event is read
MODES = ("A", "B", "C")


# Events read in one request: the role and key registry mode B consults at every seal; mode C's
# records, which the supervisor and the auditor read together.
READ_TOGETHER = (
    ("RoleGranted", "RoleRevoked", "KeyRegistered"),
    ("ContextIssued", "CopyIssued", "DecryptionRequested", "Decrypted"),
)


def role_id(name: str) -> bytes:
    """The on-chain bytes32 of a role name (`member`, `validator`, `supervisor`, `auditor`)."""
    if name not in ROLES:
        raise ChainError(f"unknown role {name!r}: one of {', '.join(ROLES)}")
    return keccak(text=f"tclearn.{name}")


class BlockState(IntEnum):
    NONE = 0
    PENDING = 1
    FINAL = 2
    REJECTED = 3
    EXPIRED = 4


class ProposalState(IntEnum):
    NONE = 0
    PENDING = 1
    APPROVED = 2
    EXECUTED = 3
    REJECTED = 4
    EXPIRED = 5
    STALE = 6


@dataclass(frozen=True)
class Cursor:
    head: int
    open: int
    block_count: int
    update_count: int


@dataclass(frozen=True)
class RoundInfo:
    number: int
    attempt: int
    general: str
    deadline: int


@dataclass(frozen=True)
class BlockInfo:
    id: int
    parent: int
    voted_seats: int
    accepts: int
    rejects: int
    electorate: int
    state: BlockState
    deadline: int
    model_hash: bytes


@dataclass(frozen=True)
class UpdateInfo:
    id: int
    member: str
    parent: int
    samples: int
    weights_hash: bytes


@dataclass(frozen=True)
class BlockRecord:
    """What the block's proposal (or genesis) event says: where its model is stored, and from what."""

    id: int
    parent: int
    round: int
    general: str
    model_hash: bytes
    cid_digest: bytes
    update_ids: tuple[int, ...]
    metadata_hash: bytes


@dataclass(frozen=True)
class Provenance:
    """The transaction that recorded an event, and the chain block that holds it."""

    tx: str
    chain_block: int


@dataclass(frozen=True)
class RoleChange:
    """A role granted to or revoked from an account, and the transaction that did it."""

    account: str
    role: str
    granted: bool
    tx: str
    chain_block: int


@dataclass(frozen=True)
class ContextIssue:
    """Mode C: a CKKS public context a supervisor issued to a participant."""

    participant: str
    supervisor: str
    fingerprint: bytes
    cid_digest: bytes
    tx: str
    chain_block: int


@dataclass(frozen=True)
class CopyIssue:
    """Mode C: an encrypted copy of a block's model issued to a participant."""

    block: int
    participant: str
    copy_hash: bytes
    cid_digest: bytes
    fingerprint: bytes
    tx: str
    chain_block: int


@dataclass(frozen=True)
class DecryptionRequest:
    """Mode C: a participant asks the supervisor to decrypt a stored container, for a purpose.
    `answer` is the supervisor's record of it, once it is done."""

    id: int
    requester: str
    purpose: bytes
    block: int
    cid_digest: bytes
    tx: str
    chain_block: int
    answer: Decryption | None = None


@dataclass(frozen=True)
class Decryption:
    """Mode C: a decryption the supervisor did: the hash of its input, where its answer lies."""

    request: int
    supervisor: str
    input_hash: bytes
    answer_cid_digest: bytes
    tx: str
    chain_block: int


@dataclass(frozen=True)
class KeyRegistration:
    """A public key a participant registered: its fingerprint and where the key is stored."""

    account: str
    fingerprint: bytes
    uri: str
    tx: str
    chain_block: int


@dataclass(frozen=True)
class UpdateRecord:
    """A registered training step, as its event records it."""

    id: int
    member: str
    parent: int
    weights_hash: bytes
    cid_digest: bytes
    samples: int
    batch_size: int


@dataclass(frozen=True)
class LedgerParams:
    mode: str
    min_batch_size: int
    proposal_timeout: int
    vote_timeout: int
    membership_timeout: int
    rules_digest: bytes = b"\x00" * 32  # CIDv0 digest of the coalition's rules document


class Ledger:
    """One deployed ModelLedger on one chain."""

    def __init__(self, chain: Chain, address: str, artifact: Artifact | None = None):
        self.chain = chain
        self.artifact = artifact or ledger_interface()
        self.address = to_checksum_address(address)
        self.contract: Contract = chain.w3.eth.contract(address=self.address, abi=self.artifact.abi)
        self.errors = ErrorDecoder(self.artifact.abi)
        # Events never change once emitted: what was read of them is kept, unless the chain
        # rolls back past them (`_follow`).
        self._block_records: dict[int, BlockRecord] = {}
        self._update_records: dict[int, UpdateRecord] = {}
        self._log_cache: dict[str, tuple[list[Any], int]] = {}
        self._role_changes: tuple[tuple[int, int], list[RoleChange]] = ((-1, -1), [])
        self._tip: tuple[int, bytes] | None = None
        self.rollbacks = 0
        if not chain.w3.eth.get_code(self.address):
            raise ChainError(f"no contract at {self.address} on {chain.url}")

    # ------------------------------------------------------------------ transactions

    def transact(self, account: LocalAccount, function: str, *args: Any) -> TxReceipt:
        """Simulates, signs and sends `function(*args)` from `account`; raises on refusal."""
        return send(self.chain, account, self.contract.functions[function](*args), self.errors)

    def register_update(
        self, member: LocalAccount, parent: int, weights_hash: bytes, cid_digest: bytes, samples: int, batch_size: int
    ) -> int:
        """Records a training step; returns the update id."""
        receipt = self.transact(member, "registerUpdate", parent, weights_hash, cid_digest, samples, batch_size)
        return self._event(receipt, "UpdateRegistered")["id"]

    def propose(
        self,
        general: LocalAccount,
        parent: int,
        model_hash: bytes,
        cid_digest: bytes,
        update_ids: list[int],
        round_number: int,
        metadata_hash: bytes,
    ) -> int:
        """The drawn general proposes a candidate block; returns its id."""
        receipt = self.transact(
            general, "propose", parent, model_hash, cid_digest, sorted(update_ids), round_number, metadata_hash
        )
        return self._event(receipt, "BlockProposed")["id"]

    def vote(
        self, validator: LocalAccount, block_id: int, accept: bool, metrics: bytes, reveal: bytes, next_commit: bytes
    ) -> TxReceipt:
        """Casts `validator`'s verdict on candidate `block_id`."""
        return self.transact(validator, "vote", block_id, accept, metrics, reveal, next_commit)

    def expire(self, caller: LocalAccount, block_id: int) -> TxReceipt:
        return self.transact(caller, "expire", block_id)

    def redraw(self, caller: LocalAccount) -> TxReceipt:
        return self.transact(caller, "redraw")

    def propose_membership(self, validator: LocalAccount, account: str, role: str, grant: bool) -> int:
        """Opens a 2/3 vote on granting or revoking `role`; returns the proposal id."""
        receipt = self.transact(validator, "proposeMembership", account, role_id(role), grant)
        return self._event(receipt, "MembershipProposed")["id"]

    def vote_membership(self, validator: LocalAccount, proposal_id: int, support: bool) -> TxReceipt:
        return self.transact(validator, "voteMembership", proposal_id, support)

    def execute_membership(self, caller: LocalAccount, proposal_id: int) -> TxReceipt:
        return self.transact(caller, "executeMembership", proposal_id)

    def register_key(self, account: LocalAccount, purpose: str, fingerprint: bytes, uri: str) -> TxReceipt:
        return self.transact(account, "registerKey", keccak(text=purpose), fingerprint, uri)

    # ------------------------------------------------------------------ mode C's records

    def issue_context(
        self, supervisor: LocalAccount, participant: str, fingerprint: bytes, cid_digest: bytes
    ) -> TxReceipt:
        return self.transact(supervisor, "issueContext", participant, fingerprint, cid_digest)

    def issue_copies(
        self, supervisor: LocalAccount, block_id: int, copies: list[tuple[str, bytes, bytes]]
    ) -> TxReceipt:
        """Records a block's copies, (participant, SHA-256, CID digest) each, in one transaction."""
        participants, hashes, cids = (list(column) for column in zip(*copies, strict=True))
        return self.transact(supervisor, "issueCopies", block_id, participants, hashes, cids)

    def request_decryption(self, account: LocalAccount, purpose: str, block_id: int, cid_digest: bytes) -> int:
        receipt = self.transact(account, "requestDecryption", keccak(text=purpose), block_id, cid_digest)
        return int(self._event(receipt, "DecryptionRequested")["requestId"])

    def register_masked_update(
        self,
        member: LocalAccount,
        parent: int,
        attempt: RoundInfo,
        weights_hash: bytes,
        cid_digest: bytes,
        samples: int,
        batch_size: int,
    ) -> int:
        """Mode C: records a masked training step, bound to the round and attempt its masks are
        bound to (refused once that attempt's roster is closed); returns the update id."""
        receipt = self.transact(
            member,
            "registerMaskedUpdate",
            parent,
            attempt.number,
            attempt.attempt,
            weights_hash,
            cid_digest,
            samples,
            batch_size,
        )
        return self._event(receipt, "UpdateRegistered")["id"]

    def close_roster(self, general: LocalAccount) -> TxReceipt:
        """Mode C: the round's general closes the current attempt's roster."""
        return self.transact(general, "closeRoster")

    def roster_closed(self, attempt: RoundInfo) -> bool:
        """Mode C: whether `attempt`'s roster is closed (only the current attempt's can be)."""
        return bool(self._logs("RosterClosed", round=attempt.number, attempt=attempt.attempt))

    def closed_attempt(self) -> tuple[RoundInfo, int] | None:
        """Mode C: the current attempt and its parent block, if its roster is closed; read from
        the events alone (a member polling for a correction to file asks the node no call)."""
        opened = self._logs("RoundOpened")
        closed = self._logs("RosterClosed")
        if not opened or not closed:
            return None
        now, last = opened[-1]["args"], closed[-1]["args"]
        if (now["round"], now["attempt"]) != (last["round"], last["attempt"]):
            return None
        attempt = RoundInfo(int(now["round"]), int(now["attempt"]), now["general"], int(now["deadline"]))
        return attempt, int(last["parent"])

    def masked_updates(self, attempt: RoundInfo) -> list[UpdateRecord]:
        """Mode C: the updates registered in `attempt`, oldest first."""
        logs = self._logs("UpdateMasked", round=attempt.number, attempt=attempt.attempt)
        return [self.update_record(int(log["args"]["id"])) for log in logs]

    def first_masked_update_time(self, attempt: RoundInfo) -> int | None:
        """Chain time of the first update registered in `attempt` (None: none yet): mode C's
        gathering window runs from it."""
        logs = self._logs("UpdateMasked", round=attempt.number, attempt=attempt.attempt)
        if not logs:
            return None
        return int(self.chain.w3.eth.get_block(logs[0]["blockNumber"])["timestamp"])

    def answer_decryption(
        self, supervisor: LocalAccount, request_id: int, input_hash: bytes, answer_cid_digest: bytes
    ) -> TxReceipt:
        return self.transact(supervisor, "answerDecryption", request_id, input_hash, answer_cid_digest)

    def context_of(self, participant: str) -> bytes:
        return bytes(self.contract.functions.contextOf(participant).call())

    def contexts_issued(self) -> list[ContextIssue]:
        return [
            ContextIssue(
                to_checksum_address(log["args"]["participant"]),
                to_checksum_address(log["args"]["supervisor"]),
                bytes(log["args"]["fingerprint"]),
                bytes(log["args"]["cidDigest"]),
                log["transactionHash"].hex(),
                int(log["blockNumber"]),
            )
            for log in self._logs("ContextIssued")
        ]

    def copies_issued(self, **filters: Any) -> list[CopyIssue]:
        """Copies issued, oldest first; `blockId=` or `participant=` narrow them."""
        return [
            CopyIssue(
                int(log["args"]["blockId"]),
                to_checksum_address(log["args"]["participant"]),
                bytes(log["args"]["copyHash"]),
                bytes(log["args"]["cidDigest"]),
                bytes(log["args"]["fingerprint"]),
                log["transactionHash"].hex(),
                int(log["blockNumber"]),
            )
            for log in self._logs("CopyIssued", **filters)
        ]

    def decryption_requests(self) -> list[DecryptionRequest]:
        """Every decryption asked, oldest first, each with the supervisor's answer if it came."""
        answers = {
            int(log["args"]["requestId"]): Decryption(
                int(log["args"]["requestId"]),
                to_checksum_address(log["args"]["supervisor"]),
                bytes(log["args"]["inputHash"]),
                bytes(log["args"]["answerCid"]),
                log["transactionHash"].hex(),
                int(log["blockNumber"]),
            )
            for log in self._logs("Decrypted")
        }
        return [
            DecryptionRequest(
                int(log["args"]["requestId"]),
                to_checksum_address(log["args"]["requester"]),
                bytes(log["args"]["purpose"]),
                int(log["args"]["blockId"]),
                bytes(log["args"]["cidDigest"]),
                log["transactionHash"].hex(),
                int(log["blockNumber"]),
                answers.get(int(log["args"]["requestId"])),
            )
            for log in self._logs("DecryptionRequested")
        ]

    # ------------------------------------------------------------------ views

    def cursor(self) -> Cursor:
        return Cursor(*self.contract.functions.cursor().call())

    def current_round(self) -> RoundInfo:
        number, attempt, general, deadline = self.contract.functions.currentRound().call()
        return RoundInfo(number, attempt, general, deadline)

    def block(self, block_id: int) -> BlockInfo:
        fields = self.contract.functions.blockInfo(block_id).call()
        parent, voted, accepts, rejects, electorate, state, deadline, model_hash = fields
        return BlockInfo(block_id, parent, voted, accepts, rejects, electorate, BlockState(state), deadline, model_hash)

    def update(self, update_id: int) -> UpdateInfo:
        member, parent, samples, weights_hash = self.contract.functions.updateInfo(update_id).call()
        return UpdateInfo(update_id, member, parent, samples, weights_hash)

    def membership_state(self, proposal_id: int) -> ProposalState:
        return ProposalState(self.contract.functions.membershipState(proposal_id).call())

    def validators(self) -> list[str]:
        return list(self.contract.functions.validators().call())

    def has_role(self, role: str, account: str) -> bool:
        return bool(self.contract.functions.hasRole(role_id(role), account).call())

    def has_voted(self, block_id: int, validator: str) -> bool:
        return bool(self.contract.functions.hasVoted(block_id, validator).call())

    def seed(self) -> bytes:
        return bytes(self.contract.functions.seed().call())

    def params(self) -> LedgerParams:
        f = self.contract.functions
        return LedgerParams(
            mode=MODES[f.mode().call()],
            min_batch_size=f.minBatchSize().call(),
            proposal_timeout=f.proposalTimeout().call(),
            vote_timeout=f.voteTimeout().call(),
            membership_timeout=f.membershipTimeout().call(),
            rules_digest=bytes(f.rulesDigest().call()),
        )

    def votes(self, block_id: int) -> list[dict[str, Any]]:
        """The `VoteCast` events of a block, oldest first."""
        return [dict(log["args"]) for log in self._logs("VoteCast", id=block_id)]

    # ------------------------------------------------------------------ history (events)

    def block_record(self, block_id: int) -> BlockRecord:
        """The proposal event of a block (the genesis event for block 1)."""
        if block_id not in self._block_records:
            self._block_records[block_id] = self._read_block_record(block_id)
        return self._block_records[block_id]

    def _read_block_record(self, block_id: int) -> BlockRecord:
        if block_id == 1:
            (log,) = self._logs("GenesisBlock", id=1)
            return genesis_record(log["args"])
        logs = self._logs("BlockProposed", id=block_id)
        if not logs:
            raise ChainError(f"no block {block_id} on the ledger")
        return proposal_record(logs[0]["args"])

    def proposals(self) -> list[tuple[BlockRecord, Provenance]]:
        """Every proposed block, with the transaction that proposed it, in chain order."""
        return [(proposal_record(log["args"]), _provenance(log)) for log in self._logs("BlockProposed")]

    def registrations(self) -> list[tuple[UpdateRecord, Provenance]]:
        """Every registered update, with the transaction that registered it, in chain order."""
        return [(registration_record(log["args"]), _provenance(log)) for log in self._logs("UpdateRegistered")]

    def updates_on(self, parent: int) -> list[UpdateRecord]:
        """Every update registered as trained on block `parent`, oldest first."""
        records = [registration_record(log["args"]) for log in self._logs("UpdateRegistered", parent=parent)]
        self._update_records.update((r.id, r) for r in records)
        return records

    def registered_updates(self) -> list[UpdateRecord]:
        """Every registered update, oldest first."""
        return [registration_record(log["args"]) for log in self._logs("UpdateRegistered")]

    def update_record(self, update_id: int) -> UpdateRecord:
        if update_id not in self._update_records:
            logs = self._logs("UpdateRegistered", id=update_id)
            if not logs:
                raise ChainError(f"no update {update_id} on the ledger")
            self._update_records[update_id] = registration_record(logs[0]["args"])
        return self._update_records[update_id]

    def closed_blocks(self, outcome: str) -> list[int]:
        """Ids of the blocks that were `Rejected`, `Expired` or `Finalized`, in order."""
        return [log["args"]["id"] for log in self._logs(f"Block{outcome}")]

    def lineage(self, block_id: int | None = None) -> list[int]:
        """Block ids from `block_id` (default: the head) back to genesis (parents read from the
        kept proposal records: a walk back costs no request once made)."""
        current = self.cursor().head if block_id is None else block_id
        chain = []
        while current:
            chain.append(current)
            current = self.block_record(current).parent
        return chain

    def role_changes(self) -> list[RoleChange]:
        """Every grant and revocation of a role, in chain order (`RoleGranted`/`RoleRevoked`)."""
        granted, revoked = self._logs("RoleGranted"), self._logs("RoleRevoked")
        if self._role_changes[0] == (len(granted), len(revoked)):
            return self._role_changes[1]  # nothing new: checksumming every account again costs
        names = {role_id(name): name for name in ROLES}
        logs = [(log, True) for log in granted] + [(log, False) for log in revoked]
        logs.sort(key=lambda pair: (pair[0]["blockNumber"], pair[0]["logIndex"]))
        changes = [
            RoleChange(
                to_checksum_address(log["args"]["account"]),
                names.get(bytes(log["args"]["role"]), "admin"),
                given,
                log["transactionHash"].hex(),
                int(log["blockNumber"]),
            )
            for log, given in logs
        ]
        self._role_changes = ((len(granted), len(revoked)), changes)
        return changes

    def role_holders(self, roles: tuple[str, ...]) -> set[str]:
        """The accounts holding any of `roles` now, as the role events tell it."""
        holders: dict[tuple[str, str], bool] = {}
        for change in self.role_changes():
            holders[(change.account, change.role)] = change.granted
        return {account for (account, role), held in holders.items() if held and role in roles}

    def key_registrations(self, purpose: str) -> list[KeyRegistration]:
        """The keys registered for `purpose` (`registerKey`), in chain order."""
        return [
            KeyRegistration(
                to_checksum_address(log["args"]["account"]),
                bytes(log["args"]["fingerprint"]),
                str(log["args"]["uri"]),
                log["transactionHash"].hex(),
                int(log["blockNumber"]),
            )
            for log in self._logs("KeyRegistered", purpose=keccak(text=purpose))
        ]

    def block_time(self, number: int) -> int:
        """The timestamp of chain block `number`."""
        return int(self.chain.w3.eth.get_block(number)["timestamp"])

    def block_times(self, numbers: list[int]) -> dict[int, int]:
        """The timestamps of many chain blocks, in batches of JSON-RPC requests where the node
        takes them (one round trip per `BATCH` blocks, not one per block)."""
        w3, times = self.chain.w3, {}
        if not self.chain.url.startswith("http"):
            return {n: self.block_time(n) for n in numbers}
        for start in range(0, len(numbers), BATCH):
            chunk = numbers[start : start + BATCH]
            with w3.batch_requests() as batch:
                for n in chunk:
                    batch.add(w3.eth.get_block(n))
                found = batch.execute()
            times |= {n: int(block["timestamp"]) for n, block in zip(chunk, found, strict=True)}
        return times

    def all_events(self, span: int = LOG_SPAN) -> list[dict[str, Any]]:
        """Every event the ledger emitted, decoded, in chain order: one `eth_getLogs` per `span`
        chain blocks (nodes cap what one request may cover). Each is `{"event", "args",
        "blockNumber", "logIndex", "transactionHash"}`, as web3 gives it."""
        decoder = EventDecoder(self.artifact.abi)
        latest, found = self.chain.w3.eth.block_number, []
        for start in range(0, latest + 1, span):
            raw = self.chain.w3.eth.get_logs(
                {"address": self.address, "fromBlock": start, "toBlock": min(latest, start + span - 1)}
            )
            found += [decoder.decode(log) for log in raw if log["topics"]]
        return found

    # ------------------------------------------------------------------ internals

    def _logs(self, event: str, **filters: int) -> list[Any]:
        """The event's logs matching `filters`, oldest first.

        Logs are read incrementally: each call asks the node only for blocks it has not scanned
        yet for this event (a full scan per question grows with the chain, and the in-process
        EVM rebuilds every receipt it scans).
        """
        latest = self.chain.w3.eth.block_number
        self._follow(latest)
        seen, scanned = self._log_cache.get(event, ([], -1))
        if latest > scanned:
            group = next((g for g in READ_TOGETHER if event in g), (event,))
            if len(group) > 1:
                self._scan_together(group, latest)
                seen, _ = self._log_cache[event]
            else:
                fresh = getattr(self.contract.events, event).get_logs(from_block=scanned + 1, to_block=latest)
                seen = seen + list(fresh)
                self._log_cache[event] = (seen, latest)
        return [log for log in seen if all(log["args"][k] == v for k, v in filters.items())]

    def _scan_together(self, events: tuple[str, ...], latest: int) -> None:
        """One request for the new logs of several events (mode B asks for roles and keys
        together at every seal: three scans of the chain were a tenth of a round)."""
        handlers = {getattr(self.contract.events, e).topic: getattr(self.contract.events, e)() for e in events}
        start = min(self._log_cache.get(e, ([], -1))[1] for e in events) + 1
        raw = self.chain.w3.eth.get_logs(
            {"address": self.address, "fromBlock": start, "toBlock": latest, "topics": [list(handlers)]}
        )
        fresh: dict[str, list[Any]] = {e: [] for e in events}
        for log in raw:
            decoded = handlers[_hex(log["topics"][0])].process_log(log)
            fresh[decoded["event"]].append(decoded)
        for e in events:
            seen, scanned = self._log_cache.get(e, ([], -1))
            self._log_cache[e] = (seen + [log for log in fresh[e] if log["blockNumber"] > scanned], latest)

    def follow(self) -> int:
        """Notices a chain that lost blocks (see `_follow`); returns the rollbacks seen so far."""
        if self.chain.can_roll_back:
            self._follow(self.chain.w3.eth.block_number)
        return self.rollbacks

    def first_update_time(self, parent: int) -> int | None:
        """Chain time at which the first update on block `parent` was registered (None: none yet)."""
        logs = self._logs("UpdateRegistered", parent=parent)
        if not logs:
            return None
        return int(self.chain.w3.eth.get_block(logs[0]["blockNumber"])["timestamp"])

    def vote_commitment(self, validator: str) -> bytes | None:
        """The draw commitment `validator` made in its last vote the chain holds (None: none)."""
        cast = self._logs("VoteCast", validator=to_checksum_address(validator))
        return bytes(cast[-1]["args"]["nextCommit"]) if cast else None

    def _follow(self, latest: int) -> None:
        """Forgets every event read so far if the chain lost blocks since they were read (the
        block last seen is gone, or is another block now): a restarted devnet that had not saved
        its last blocks, a consortium chain that reorganised."""
        if not self.chain.can_roll_back:
            return
        tip = self._tip
        if tip is not None and latest == tip[0]:
            return
        if tip is not None and (latest < tip[0] or self._block_hash(tip[0]) != tip[1]):
            self._block_records.clear()
            self._update_records.clear()
            self._log_cache.clear()
            self._role_changes = ((-1, -1), [])
            self.rollbacks += 1
        self._tip = (latest, self._block_hash(latest))

    def _block_hash(self, number: int) -> bytes:
        return bytes(self.chain.w3.eth.get_block(number)["hash"])

    def _event(self, receipt: TxReceipt, name: str) -> dict[str, Any]:
        events = getattr(self.contract.events, name)().process_receipt(receipt, errors=DISCARD)
        if not events:
            raise ChainError(f"transaction {receipt['transactionHash'].hex()} emitted no {name}")
        return dict(events[0]["args"])


class EventDecoder:
    """The ledger's raw logs decoded with eth_abi directly. web3's per-log processing (its
    normalisers and attribute dictionaries) took four fifths of an auditor's read of a long
    history; this gives the same arguments (checksummed addresses, bytes, ints, tuples of
    arrays as lists) for the value types the ledger's events use."""

    def __init__(self, abi: list[dict[str, Any]]):
        self.events: dict[bytes, tuple[str, list[tuple[str, str]], list[tuple[str, str]]]] = {}
        for e in abi:
            if e["type"] != "event":
                continue
            types = [i["type"] for i in e["inputs"]]
            topic = keccak(text=f"{e['name']}({','.join(types)})")
            indexed = [(i["name"], i["type"]) for i in e["inputs"] if i["indexed"]]
            plain = [(i["name"], i["type"]) for i in e["inputs"] if not i["indexed"]]
            self.events[topic] = (e["name"], indexed, plain)

    def decode(self, log: Any) -> dict[str, Any]:
        name, indexed, plain = self.events[bytes(log["topics"][0])]
        args: dict[str, Any] = {}
        for (field, kind), topic in zip(indexed, log["topics"][1:], strict=True):
            args[field] = _value(kind, abi_decode([kind], bytes(topic))[0])
        values = abi_decode([kind for _, kind in plain], bytes(log["data"]))
        args |= {field: _value(kind, v) for (field, kind), v in zip(plain, values, strict=True)}
        return {
            "event": name,
            "args": args,
            "blockNumber": int(log["blockNumber"]),
            "logIndex": int(log["logIndex"]),
            "transactionHash": bytes(log["transactionHash"]),
        }


def _value(kind: str, value: Any) -> Any:
    if kind == "address":
        return to_checksum_address(value)
    return list(value) if isinstance(value, tuple) else value


def _hex(topic: Any) -> str:
    return "0x" + bytes(topic).hex()


def genesis_record(a: Any) -> BlockRecord:
    """Block 1's record, from its `GenesisBlock` event's arguments."""
    return BlockRecord(1, 0, 0, "", a["modelHash"], a["cidDigest"], (), a["metadataHash"])


def proposal_record(a: Any) -> BlockRecord:
    """A block's record, from its `BlockProposed` event's arguments."""
    return BlockRecord(
        a["id"],
        a["parent"],
        a["round"],
        a["general"],
        a["modelHash"],
        a["cidDigest"],
        tuple(a["updateIds"]),
        a["metadataHash"],
    )


def _provenance(log: Any) -> Provenance:
    return Provenance(log["transactionHash"].hex(), int(log["blockNumber"]))


def registration_record(a: Any) -> UpdateRecord:
    """An update's record, from its `UpdateRegistered` event's arguments."""
    return UpdateRecord(
        a["id"], a["member"], a["parent"], a["weightsHash"], a["cidDigest"], a["samples"], a["batchSize"]
    )
